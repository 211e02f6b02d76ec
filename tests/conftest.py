"""Suite-wide settings: tests never download, and never touch the user's cache."""

from __future__ import annotations

import os
import tempfile

os.environ["AEKIT_OFFLINE"] = "1"
os.environ.setdefault("AEKIT_CACHE", tempfile.mkdtemp(prefix="aekit-test-cache-"))
