"""Suite-wide settings: tests never download, and never touch the user's cache."""

from __future__ import annotations

import os
import tempfile

os.environ["AEKIT_OFFLINE"] = "1"
os.environ.setdefault("AEKIT_CACHE", tempfile.mkdtemp(prefix="aekit-test-cache-"))
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the same for the aekit processes that tests start

import torch  # noqa: E402

# One intra-op thread per xdist worker: on 2 cores, 2 workers x 2 threads oversubscribe the CPU
# and small models train many times slower (measured 40 s vs 7 s for one conv-VAE test).
torch.set_num_threads(1)
