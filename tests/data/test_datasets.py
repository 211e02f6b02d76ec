"""The registry: digits with no data at all, real MNIST/Fashion-MNIST when present, the table,
splits."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from aekit.cli import main
from aekit.data import (
    ImageSet,
    dataset_names,
    describe_datasets,
    idx,
    load,
    train_val_split,
    val_indices,
)
from aekit.errors import ConfigError, DataError

REAL_DATA = os.environ.get("AEKIT_DATA")  # read before the fixture below points it elsewhere
MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AEKIT_OFFLINE", "1")  # tests never download


def real_root(name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point AEKIT_DATA at the real data folder holding ``name``, or skip."""
    for root in (REAL_DATA, Path(__file__).parents[3] / "shared" / "data"):
        if root and (Path(root) / name).is_dir():
            monkeypatch.setenv("AEKIT_DATA", str(root))
            return Path(root)
    pytest.skip(f"no real {name} data here")


def test_digits_needs_no_data_folder() -> None:
    train, test = load("digits"), load("digits", "test")
    assert isinstance(train, ImageSet) and len(train) == 1497 and len(test) == 300
    assert (
        train.shape == (1, 8, 8)
        and train.images.dtype == torch.float32
        and train.labels.dtype == torch.int64
    )
    assert train.images.min() == 0 and train.images.max() == 1
    assert train.class_names == [str(d) for d in range(10)] and train.num_classes == 10
    assert test.labels.bincount().min() >= 29  # stratified: every digit in the test split
    assert torch.equal(load("digits", "test").images, test.images)  # fixed split


def test_image_size_and_channels_options() -> None:
    data = load("digits", "test", image_size=16, channels=3)
    assert data.shape == (3, 16, 16) and 0 <= data.images.min() and data.images.max() <= 1
    assert torch.equal(data.images[:, 0], data.images[:, 2])
    wide = load("digits", "test", image_size="16x8", channels=2, resample="nearest")
    assert wide.shape == (2, 8, 16) and wide.pixels[:, 1].eq(1).all()  # an opaque alpha channel
    plain = load("digits", "test")
    # nearest: every other column repeated
    assert torch.equal(wide.pixels[:, 0, :, ::2], plain.pixels[:, 0])


def test_batch_converts_only_the_rows_asked_for() -> None:
    pixels = torch.arange(4 * 2 * 3, dtype=torch.uint8).view(4, 1, 2, 3) * 10
    data = ImageSet(pixels, torch.arange(4), ["a", "b", "c", "d"], "toy", "test")
    batch = data.batch([2, 0])
    assert batch.dtype == torch.float32 and torch.allclose(
        batch, torch.stack([pixels[2], pixels[0]]).float() / 255
    )
    assert data.images.dtype == torch.float32 and torch.equal(data.images[2], batch[0])
    part = data.subset([3, 1])
    assert (
        part.pixels.dtype == torch.uint8
        and part.labels.tolist() == [3, 1]
        and torch.equal(part.pixels[0], pixels[3])
    )
    digits = load("digits", "test")  # sixteen grey levels: kept as float32, not rounded to bytes
    assert digits.pixels.dtype == torch.float32 and torch.equal(
        digits.batch([5])[0], digits.images[5]
    )


def test_unknown_names_splits_and_options() -> None:
    with pytest.raises(DataError, match="unknown dataset 'mnistt'.*digits, mnist"):
        load("mnistt")
    with pytest.raises(DataError, match="unknown split 'val' for digits; splits: train, test"):
        load("digits", "val")
    with pytest.raises(ConfigError):
        load("digits", image_size=-4)
    assert {
        "digits",
        "mnist",
        "fashion-mnist",
        "documents",
        "documents-synthetic",
        "documents-synthetic-300dpi",
        "floorplans-synthetic",
        "crawl-tiles",
    } == set(dataset_names())
    with pytest.raises(ConfigError, match="digits can only be stretched"):
        load("digits", image_size=16, resize="pad")


def test_train_val_split_is_a_fixed_disjoint_hold_out() -> None:
    data = load("digits")
    # each image its index
    data.pixels = torch.arange(len(data), dtype=torch.float32).view(-1, 1, 1, 1)
    train, val = train_val_split(data, 0.1, seed=0)
    ids = lambda d: set(d.images.flatten().long().tolist())  # noqa: E731
    assert len(val) == 150 and len(train) == len(data) - 150
    assert not ids(train) & ids(val) and ids(train) | ids(val) == set(range(len(data)))
    assert ids(train_val_split(data, 0.1, seed=0)[1]) == ids(val)
    assert ids(train_val_split(data, 0.1, seed=1)[1]) != ids(val)
    assert torch.equal(val.labels, data.labels[sorted(ids(val))])
    kept, held = val_indices(data, 0.1, seed=0)  # the same split as row numbers, nothing copied
    assert set(held.tolist()) == ids(val) and set(kept.tolist()) == ids(train)
    with pytest.raises(ConfigError):
        train_val_split(data, 1.0)
    with pytest.raises(DataError, match="at least 2"):
        train_val_split(data.subset([0]))


def test_missing_mnist_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load("mnist")
    message = str(info.value)
    assert str(tmp_path / "data" / "mnist") in message and "train-images-idx3-ubyte.gz" in message
    assert "AEKIT_OFFLINE" in message and "\n" not in message


def test_table_without_data(tmp_path: Path) -> None:
    table = describe_datasets()
    rows = {line.split()[0]: line for line in table.splitlines()[2:]}
    assert set(rows) == {*dataset_names(), "folder:PATH", "sheet:PATH?tile=S"}
    assert " yes " in rows["digits"]
    assert " no " in rows["mnist"] and str(tmp_path / "data" / "mnist") in rows["mnist"]
    assert " no " in rows["documents"]


@pytest.mark.real_data
def test_cli_lists_mnist_as_available(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    root = real_root("mnist", monkeypatch)
    assert main(["datasets"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mnist "))
    assert " yes " in row and str(root / "mnist") in row


@pytest.mark.real_data
def test_real_mnist_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    real_root("mnist", monkeypatch)
    start = time.perf_counter()
    train = load("mnist")
    seconds = time.perf_counter() - start
    test = load("mnist", "test")
    assert train.images.shape == (60000, 1, 28, 28) and len(test) == 10000
    assert (
        train.labels.bincount().tolist() == MNIST_TRAIN
        and test.labels.bincount().tolist() == MNIST_TEST
    )
    assert train.pixels.dtype == torch.uint8 and train.images.dtype == torch.float32
    assert train.images.min() == 0 and train.images.max() == 1
    assert seconds < 10, f"loading 60,000 MNIST images took {seconds:.1f} s"  # about 0.5 s alone


@pytest.mark.real_data
def test_real_fashion_mnist_counts(mapped_file: Callable[[int], str]) -> None:
    if idx.locate(idx.FASHION_MNIST, "train") is None:
        pytest.skip("no Fashion-MNIST here")
    train, test = load("fashion-mnist"), load("fashion-mnist", "test")
    again = load("fashion-mnist")  # the verified rows, memory-mapped from the cache
    assert torch.equal(again.pixels, train.pixels) and torch.equal(again.labels, train.labels)
    assert mapped_file(again.pixels.data_ptr()).endswith(".u8")
    assert (
        train.labels.bincount().tolist() == [6000] * 10
        and test.labels.bincount().tolist() == [1000] * 10
    )
    assert train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"
    assert train.shape == (1, 28, 28)
