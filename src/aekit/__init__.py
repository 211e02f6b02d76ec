"""aekit: autoencoders and variational autoencoders for images, from one CLI and one Python API.

import aekit
run = aekit.train(aekit.TrainConfig(model="conv-vae", dataset="digits", epochs=5, out="runs/vae"))
model = aekit.load("runs/vae")
images = aekit.Run("runs/vae").sample(16)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aekit.errors import AekitError

__version__ = "0.1.0"
__all__ = ["AekitError", "TrainConfig", "Run", "train", "load", "data", "models", "__version__"]

if TYPE_CHECKING:
    from aekit.config import TrainConfig
    from aekit.run import Run


def train(config: TrainConfig | None = None, **options: Any) -> Run:
    """Train a model as ``config`` says, or as ``options`` say over it (``TrainConfig``'s fields,
    the TOML keys, checked as ``aekit train`` checks its flags); returns the finished
    :class:`aekit.Run`."""
    from aekit.train import train_as_given

    return train_as_given(config, **options)


def load(run_dir: Any) -> Any:
    """Rebuild a trained model from a run folder (safetensors + JSON only; no code is run)."""
    from aekit.runs import load_model

    return load_model(run_dir)


def __getattr__(name: str) -> Any:
    # Lazy so `import aekit` and `aekit --help` stay fast.
    if name == "TrainConfig":
        from aekit.config import TrainConfig

        return TrainConfig
    if name == "Run":
        from aekit.run import Run

        return Run
    if name in ("data", "models"):
        return importlib.import_module(f"aekit.{name}")
    raise AttributeError(f"module 'aekit' has no attribute {name!r}")
