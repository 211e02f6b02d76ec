"""aekit's data layer: datasets (``load``), the ``aekit datasets`` table and the validation split.

Noise models live in ``aekit.data.noise``, condition images in ``aekit.data.conditions``.
"""

from aekit.data.datasets import ImageSet, dataset_names, describe_datasets, load, train_val_split
from aekit.data.documents import PageSet

__all__ = ["ImageSet", "PageSet", "dataset_names", "describe_datasets", "load", "train_val_split"]
