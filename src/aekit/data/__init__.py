"""aekit's data layer: datasets (``load``), the ``aekit datasets`` table and the validation split.

Noise models live in ``aekit.data.noise``, condition images in ``aekit.data.conditions``; decoding
(channels, premultiplied alpha, resize modes) in ``aekit.data.decode``, the uint8 decode cache in
``aekit.data.cache``, sprite sheets in ``aekit.data.sheets``, ``inspect_dataset`` in
``aekit.data.inspect``.
"""

from aekit.data.datasets import dataset_names, describe_datasets, load, train_val_split, val_indices
from aekit.data.documents import PageSet
from aekit.data.image_set import ImageSet
from aekit.data.sheets import crawl_tiles_spec

__all__ = [
    "ImageSet",
    "PageSet",
    "crawl_tiles_spec",
    "dataset_names",
    "describe_datasets",
    "load",
    "train_val_split",
    "val_indices",
]
