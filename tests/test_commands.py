"""Using a model on files: tiled page cleaning, denoise/sample/encode/decode/interpolate commands
(``aekit.commands``) and the library under them (``aekit.inference``, ``aekit.formats``)."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from aekit import tiling
from aekit.cli import main
from aekit.commands.codes import decode, encode
from aekit.commands.denoise import denoise
from aekit.commands.generate import interpolate, sample, sample_command
from aekit.config import TrainConfig
from aekit.errors import ConfigError
from aekit.formats import ImageWriter, gif_bytes, read_codes
from aekit.inference import MAX_STEPS, lerp, sample_images, slerp
from aekit.models import build_model
from aekit.progress import Progress
from aekit.runs import load_model

DIGIT_CLASSES = [str(i) for i in range(10)]


def make_run(
    folder: Path,
    model: str,
    options: dict,
    input_shape: tuple[int, int, int],
    *,
    num_classes: int | None = None,
    class_names: list[str] | None = None,
    dataset: str = "digits",
    seed: int = 0,
) -> Path:
    """A run folder (config.json + model.safetensors) of a freshly initialised model: these tests
    exercise file handling and numerics, not training."""
    torch.manual_seed(seed)
    net = build_model(model, options, input_shape, num_classes)
    folder.mkdir(parents=True)
    config = TrainConfig(model=model, dataset=dataset, out=str(folder))
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model": model,
                "model_options": net.config_dict(),
                "input_shape": list(input_shape),
                "num_classes": num_classes,
                "class_names": class_names,
                "dataset": dataset,
                "train": config.to_dict(),
            }
        )
    )
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors")
    )
    return folder


@pytest.fixture
def docs_run(tmp_path) -> Path:
    return make_run(
        tmp_path / "docs",
        "tutorial-docs",
        {"filters": 8, "latent_dim": 8},
        (1, 32, 32),
        dataset="documents",
    )


@pytest.fixture
def vae_run(tmp_path) -> Path:
    return make_run(
        tmp_path / "vae",
        "conv-vae",
        {"latent_dim": 3, "channels": [4, 8], "hidden": 16},
        (1, 8, 8),
        num_classes=10,
        class_names=DIGIT_CLASSES,
    )


def _small_tiles(monkeypatch) -> None:
    monkeypatch.setattr(tiling, "TILE", 64)
    monkeypatch.setattr(tiling, "OVERLAP", 32)
    monkeypatch.setattr(tiling, "MARGIN", 8)


# --- tiling ---------------------------------------------------------------------------
def test_tile_spans_cover_the_side_with_aligned_overlapping_tiles():
    for length in (1, 100, 512, 513, 1000, 3508):
        spans = tiling.tile_spans(length, 512, 64, 32)
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(s % 32 == 0 and e - s <= 512 for s, e in spans)
        assert all(b[0] <= a[1] - 64 for a, b in itertools.pairwise(spans))


def test_tiled_page_equals_whole_page_and_needs_the_blending(docs_run, monkeypatch):
    model = load_model(docs_run)
    torch.manual_seed(1)
    page = torch.rand(1, 150, 203)
    with torch.inference_mode():
        whole = model.reconstruct(page[None])[0]
    tiled = tiling.tiled_reconstruct(model, page, tile=64, overlap=32, margin=8, batch=3)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 1e-5
    fast = tiling.tiled_reconstruct(model, page, tile=64, overlap=32, margin=8, batch=3, bf16=True)
    assert 0 < (fast - whole).abs().max() < 0.02  # bfloat16 rounding, nothing more
    # plain averaging of overlapping tiles
    monkeypatch.setattr(tiling, "_ramp", lambda n, margin: torch.ones(n))
    unblended = tiling.tiled_reconstruct(model, page, tile=64, overlap=32, margin=8, batch=3)
    assert (unblended - whole).abs().max() > 1e-3


# --- denoise --------------------------------------------------------------------------
def _write_inputs(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True)
    files = {
        "grey": folder / "page.png",
        "colour": folder / "sub" / "colour.jpg",
        "deep": folder / "deep.png",
        "alpha": folder / "sprite.png",
        "palette": folder / "pal.gif",
        "tiny": folder / "tiny.png",
    }
    Image.fromarray(rng.integers(0, 256, (130, 170), dtype=np.uint8)).save(files["grey"])
    Image.fromarray(rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)).save(files["colour"])
    Image.fromarray(rng.integers(0, 65536, (80, 100), dtype=np.uint16)).save(files["deep"])
    rgba = rng.integers(0, 256, (40, 30, 4), dtype=np.uint8)
    rgba[:10, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(files["alpha"])
    pal = Image.fromarray(rng.integers(0, 4, (20, 20), dtype=np.uint8), "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    pal.save(files["palette"], transparency=3)
    Image.fromarray(rng.integers(0, 256, (5, 7), dtype=np.uint8)).save(files["tiny"])
    (folder / "bad.png").write_bytes(b"not a png at all")
    return files


def test_denoise_keeps_paths_sizes_and_modes_and_goes_on_after_a_bad_file(
    docs_run, tmp_path, monkeypatch, capsys
):
    _small_tiles(monkeypatch)
    inputs = _write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["denoise", str(docs_run), str(tmp_path / "in"), "--out", str(out), "--quiet"])
    assert exit_info.value.code == 1
    printed = capsys.readouterr()
    assert "denoised 6 file(s)" in printed.out and "1 failed" in printed.out
    expected_modes = {
        "grey": "L",
        "colour": "RGB",
        "deep": "I;16",
        "alpha": "RGBA",
        "palette": "P",
        "tiny": "L",
    }
    for key, source in inputs.items():
        # each file in its own format (.jpg, .gif, .png)
        result = out / source.relative_to(tmp_path / "in")
        with Image.open(source) as a, Image.open(result) as b:
            assert b.size == a.size, key
            assert b.mode == expected_modes[key], key
            assert b.format == a.format, key
            if key == "alpha":  # a grey model cannot change alpha: kept exactly
                assert np.array_equal(np.asarray(a)[..., 3], np.asarray(b)[..., 3])
            if key == "palette":  # its own palette, and transparent where it was
                assert (
                    b.getpalette()[:12] == a.getpalette()[:12] and b.info.get("transparency") == 3
                )
                assert np.array_equal(np.asarray(a) == 3, np.asarray(b) == 3)
    assert not (out / "bad.png").exists()
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files left


def test_denoise_big_page_in_tiles_matches_the_whole_page(docs_run, tmp_path, monkeypatch):
    _small_tiles(monkeypatch)
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (150, 203), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "p.png")
    denoise(docs_run, [tmp_path / "p.png"], tmp_path / "out", progress=Progress(quiet=True))
    model = load_model(docs_run)
    with torch.inference_mode():
        whole = model.reconstruct(torch.from_numpy(pixels / 255.0).float()[None, None])[0, 0]
    written = np.asarray(Image.open(tmp_path / "out" / "p.png"), dtype=np.float32) / 255
    assert np.abs(written - whole.numpy()).max() <= 0.5 / 255 + 1e-5


def test_fixed_size_model_resizes_and_says_so(vae_run, tmp_path):
    Image.fromarray(np.full((33, 21), 200, np.uint8)).save(tmp_path / "a.png")
    lines = []

    class Collect(Progress):
        def message(self, text: str) -> None:
            lines.append(text)

    result = denoise(
        vae_run, [tmp_path / "a.png"], tmp_path / "out", progress=Collect(interactive=False)
    )
    assert [p.name for p in result.written] == ["a.png"] and not result.failed
    assert Image.open(tmp_path / "out" / "a.png").size == (21, 33)
    assert any("resized to 8x8" in line for line in lines)


def test_denoise_never_writes_over_its_inputs(docs_run, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "a.png")
    for out in (folder, folder / "cleaned"):
        with pytest.raises(ConfigError, match="inside the input folder"):
            denoise(docs_run, [folder], out)
    with pytest.raises(ConfigError, match="would overwrite the input"):
        denoise(docs_run, [folder / "a.png"], folder, overwrite=True)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(ConfigError, match="--overwrite"):
        denoise(docs_run, [folder / "a.png"], tmp_path / "full")
    assert main(["denoise", str(docs_run), str(folder / "a.png"), "--out", str(folder)]) == 2


def test_kaggle_csv_format(docs_run, tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, (6, 9), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "17.png")
    # another size, in colour
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(tmp_path / "2.png")
    csv_path = tmp_path / "submission.csv"
    denoise(
        docs_run,
        [tmp_path / "2.png", tmp_path / "17.png"],
        tmp_path / "out",
        kaggle_csv=csv_path,
        progress=Progress(quiet=True),
    )
    with csv_path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "value"]
    assert len(rows) == 1 + 3 * 4 + 6 * 9
    assert rows[1][0] == "2_1_1" and rows[12][0] == "2_3_4"
    rows = rows[13:]
    assert rows[0][0] == "17_1_1" and rows[1][0] == "17_1_2" and rows[-1][0] == "17_6_9"
    values = np.array([float(v) for _, v in rows]).reshape(6, 9)
    assert ((values >= 0) & (values <= 1)).all()
    written = np.asarray(Image.open(tmp_path / "out" / "17.png"), dtype=np.float64) / 255
    assert np.abs(values - written).max() <= 0.5 / 255 + 0.0006


# --- sample ---------------------------------------------------------------------------
def test_same_seed_same_files_bit_for_bit(vae_run, tmp_path):
    a = sample(vae_run, tmp_path / "a", 12, seed=3, write_sheet=True)
    b = sample(vae_run, tmp_path / "b", 12, seed=3, write_sheet=True)
    c = sample(vae_run, tmp_path / "c", 12, seed=4)
    assert [p.name for p in a] == [p.name for p in b] and [p.name for p in a[-2:]] == [
        "sheet.png",
        "sheet.json",
    ]
    assert len(a) == 14
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(a, b))
    assert any(p.read_bytes() != q.read_bytes() for p, q in zip(a, c))
    assert Image.open(a[-2]).size == (4 * 8, 3 * 8)
    atlas = json.loads(a[-1].read_text())
    assert (
        atlas["meta"]["size"] == {"w": 4 * 8, "h": 3 * 8} and atlas["meta"]["image"] == "sheet.png"
    )
    assert atlas["frames"]["sample_05.png"]["frame"] == {"x": 8, "y": 8, "w": 8, "h": 8}
    assert [p.name for p in a[:12]] == list(atlas["frames"])


def test_sample_temperature_prior_and_bad_input(vae_run, tmp_path):
    model = load_model(vae_run)
    cold = sample_images(model, 50, seed=0, temperature=0.01)
    with torch.inference_mode():
        centre = model.decode(torch.zeros(1, 3))
    warm = sample_images(model, 50, seed=0)
    # codes 100x closer to 0
    assert (cold - centre).abs().max() < 0.05 * (warm - centre).abs().max()

    class FixedPrior:
        def sample(self, n, generator=None, labels=None):
            return torch.ones(n, 3) * 0.5

    with torch.inference_mode():
        expected = model.decode(torch.full((4, 3), 0.5))
    assert torch.allclose(sample_images(model, 4, prior=FixedPrior()), expected)
    with pytest.raises(ConfigError, match="at least 1"):
        sample(vae_run, tmp_path / "x", 0)
    with pytest.raises(ConfigError, match="label-conditional"):
        sample(vae_run, tmp_path / "x", 2, class_name="3")


def test_class_names_are_listed_for_an_unknown_class(tmp_path):
    run = make_run(
        tmp_path / "cvae",
        "cvae",
        {"latent_dim": 2, "hidden": [16]},
        (1, 8, 8),
        num_classes=3,
        class_names=["cat", "dog", "eel"],
    )
    paths = sample(run, tmp_path / "s", 4, class_name="dog")
    assert len(paths) == 4
    with pytest.raises(ConfigError, match="cat, dog, eel"):
        sample(run, tmp_path / "t", 4, class_name="cow")


def test_sample_to_a_condition_image(tmp_path):
    run = make_run(
        tmp_path / "cvae",
        "cvae",
        {"latent_dim": 2, "hidden": [16], "condition_kind": "silhouette"},
        (1, 8, 8),
    )
    shape = np.zeros((20, 20), np.uint8)
    shape[5:15, 5:15] = 255
    Image.fromarray(shape).save(tmp_path / "shape.png")
    paths = sample(run, tmp_path / "s", 3, condition_image=tmp_path / "shape.png")
    assert len(paths) == 3
    with pytest.raises(ConfigError, match="--condition-image"):
        sample(run, tmp_path / "t", 3)


def test_sample_refuses_a_non_generative_model_and_a_full_folder(docs_run, vae_run, tmp_path):
    with pytest.raises(ConfigError, match="document cleaners do not generate"):
        sample(docs_run, tmp_path / "a", 2)
    sample(vae_run, tmp_path / "b", 2)
    with pytest.raises(ConfigError, match="--overwrite"):
        sample(vae_run, tmp_path / "b", 2)
    sample(vae_run, tmp_path / "b", 2, overwrite=True)


@pytest.fixture
def sprite_run(tmp_path) -> Path:
    """An RGBA conv-vae (untrained) over a folder of 64x64 sprites (a folder's default size: nothing
    is resampled) of 8x8 blocks in three colours with transparent corners."""
    folder = tmp_path / "sprites"
    folder.mkdir()
    rng = np.random.default_rng(0)
    colours = np.array([[200, 30, 30], [20, 150, 60], [40, 70, 230]], np.uint8)
    for k in range(12):
        rgba = np.zeros((8, 8, 4), np.uint8)
        rgba[..., :3] = colours[rng.integers(0, 3, (8, 8))]
        rgba[..., 3] = 255
        rgba[:2, :2, 3] = 0
        Image.fromarray(rgba.repeat(8, 0).repeat(8, 1), "RGBA").save(folder / f"s{k:02d}.png")
    return make_run(
        tmp_path / "rgba",
        "conv-vae",
        {"latent_dim": 3, "channels": [4, 8], "hidden": 16},
        (4, 64, 64),
        dataset=f"folder:{folder}",
    )


def test_sample_game_ready_through_the_cli(sprite_run, tmp_path, capsys):
    out = tmp_path / "game"
    assert (
        main(
            [
                "sample",
                str(sprite_run),
                "--n",
                "5",
                "--out",
                str(out),
                "--sheet",
                "--seamless",
                "--palette",
                "3",
                "--alpha-threshold",
                "0.5",
            ]
        )
        == 0
    )
    assert "with its atlas" in capsys.readouterr().out
    pixels = np.stack([np.asarray(Image.open(out / f"sample_{k}.png")) for k in range(5)])
    assert set(np.unique(pixels[..., 3]).tolist()) <= {0, 255}
    opaque = {tuple(p) for p in pixels[pixels[..., 3] == 255][:, :3].tolist()}
    # the training images' colours, exactly
    assert opaque <= {(200, 30, 30), (20, 150, 60), (40, 70, 230)}
    assert (pixels[pixels[..., 3] == 0] == 0).all()
    sheet = np.asarray(Image.open(out / "sheet.png"))
    atlas = json.loads((out / "sheet.json").read_text())
    assert (
        atlas["meta"]["size"]
        == {"w": sheet.shape[1], "h": sheet.shape[0]}
        == {"w": 3 * 64, "h": 2 * 64}
    )
    frame = atlas["frames"]["sample_4.png"]["frame"]
    assert frame == {"x": 64, "y": 64, "w": 64, "h": 64}
    assert np.array_equal(sheet[64:128, 64:128], pixels[4])
    plain = tmp_path / "plain"
    assert main(["sample", str(sprite_run), "--n", "5", "--out", str(plain)]) == 0
    soft = np.stack([np.asarray(Image.open(plain / f"sample_{k}.png")) for k in range(5)])
    assert (
        len(np.unique(soft[..., 3])) > 2
        and len({tuple(p) for p in soft[..., :3].reshape(-1, 3).tolist()}) > 3
    )


def test_sample_palette_file_and_bad_game_flags(sprite_run, vae_run, tmp_path, capsys):
    (tmp_path / "two.hex").write_text("#000000\nffffff\n")
    assert (
        main(
            [
                "sample",
                str(sprite_run),
                "--n",
                "2",
                "--out",
                str(tmp_path / "a"),
                "--palette",
                str(tmp_path / "two.hex"),
            ]
        )
        == 0
    )
    pixels = np.asarray(Image.open(tmp_path / "a" / "sample_0.png"))
    assert {tuple(p) for p in pixels[pixels[..., 3] > 0][:, :3].tolist()} <= {
        (0, 0, 0),
        (255, 255, 255),
    }
    (tmp_path / "bad.hex").write_text("#00000g\n")
    assert (
        main(
            [
                "sample",
                str(sprite_run),
                "--n",
                "2",
                "--out",
                str(tmp_path / "b"),
                "--palette",
                str(tmp_path / "bad.hex"),
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "sample",
                str(vae_run),
                "--n",
                "2",
                "--out",
                str(tmp_path / "c"),
                "--alpha-threshold",
                "0.5",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "sample",
                str(sprite_run),
                "--n",
                "2",
                "--out",
                str(tmp_path / "d"),
                "--alpha-threshold",
                "1.5",
            ]
        )
        == 2
    )
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        f"aekit: error: {tmp_path / 'bad.hex'}: line 1: bad hex colour '#00000g' (expected "
        "#rrggbb or rrggbb)",
        "aekit: error: --alpha-threshold: this run's images have 1 channel(s), no alpha",
        "aekit: error: --alpha-threshold must be between 0 and 1, got 1.5",
    ]
    assert not any((tmp_path / name).exists() for name in "bcd")


# --- encode / decode ------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_encode_decode_round_trip(vae_run, tmp_path, suffix):
    codes_file = tmp_path / f"codes{suffix}"
    encode(vae_run, codes_file, dataset="digits", split="test", progress=Progress(quiet=True))
    codes, names, labels = read_codes(codes_file)
    from aekit.data import load

    test = load("digits", "test")
    model = load_model(vae_run)
    with torch.inference_mode():
        expected = model.encode(test.images)
    assert codes.shape == (len(test), 3) and torch.allclose(codes, expected, atol=1e-6)
    assert names[0] == "test_000" and labels == [str(int(y)) for y in test.labels]
    paths = decode(vae_run, codes_file, tmp_path / "images")
    with torch.inference_mode():
        first = model.decode(expected[:1])[0, 0].numpy()
    assert paths[0] == tmp_path / "images" / "test_000.png"
    written = np.asarray(Image.open(paths[0]), dtype=np.float32) / 255
    assert np.abs(written - first).max() <= 0.5 / 255 + 1e-6


def test_encode_files_with_names_and_posterior_draws(vae_run, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(np.random.default_rng(k).integers(0, 256, (16, 16), dtype=np.uint8)).save(
            folder / f"{k}.png"
        )
    means = encode(vae_run, tmp_path / "m.npy", inputs=[folder], progress=Progress(quiet=True))
    draws = encode(
        vae_run,
        tmp_path / "d.npy",
        inputs=[folder],
        sample_posterior=True,
        progress=Progress(quiet=True),
    )
    (m, names, _), (d, _, _) = read_codes(means.path), read_codes(draws.path)
    assert names == ["0.png", "1.png", "2.png"]
    assert not torch.equal(m, d) and (m - d).abs().max() < 10
    paths = decode(vae_run, means.path, tmp_path / "out")
    assert [p.name for p in paths] == ["0.png", "1.png", "2.png"]


def test_parquet_without_pyarrow_is_one_line(vae_run, tmp_path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="pyarrow"):
            encode(vae_run, tmp_path / "c.parquet", dataset="digits")
    else:
        path = encode(
            vae_run, tmp_path / "c.parquet", dataset="digits", progress=Progress(quiet=True)
        ).path
        assert read_codes(path)[0].shape[1] == 3


# --- interpolate ----------------------------------------------------------------------
def test_slerp_keeps_the_norm_where_lerp_shrinks_it():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    t = torch.linspace(0, 1, 5)
    arc = slerp(a, b, t)
    assert torch.allclose(arc.norm(dim=1), torch.full((5,), 3.0), atol=1e-5)
    assert torch.allclose(arc[0], a) and torch.allclose(arc[-1], b, atol=1e-6)
    assert lerp(a, b, t).norm(dim=1)[2] < 2.2


def test_interpolate_files_and_classes(vae_run, tmp_path):
    for name, value in (("a.png", 0), ("b.png", 255)):
        Image.fromarray(np.full((8, 8), value, np.uint8)).save(tmp_path / name)
    paths, how = interpolate(
        vae_run, tmp_path / "ab", a=tmp_path / "a.png", b=tmp_path / "b.png", steps=5, gif=True
    )
    assert "spherical" in how
    assert [p.name for p in paths] == [
        "step_0.png",
        "step_1.png",
        "step_2.png",
        "step_3.png",
        "step_4.png",
        "strip.png",
        "interpolation.gif",
    ]
    assert Image.open(paths[-1]).format == "GIF"
    frames = torch.linspace(0, 1, 5).view(5, 1, 1, 1).expand(5, 1, 4, 4)
    gif = tmp_path / "x.gif"
    gif.write_bytes(gif_bytes(frames))
    assert Image.open(gif).n_frames == 8  # forwards and back
    paths, how = interpolate(vae_run, tmp_path / "cls", from_class="1", to_class="7", steps=3)
    assert len(paths) == 4
    with pytest.raises(ConfigError, match="between 2 and"):
        interpolate(vae_run, tmp_path / "x", from_class="1", to_class="7", steps=1)
    with pytest.raises(ConfigError, match="classes are"):
        interpolate(vae_run, tmp_path / "y", from_class="1", to_class="seven", steps=3)


def test_interpolation_of_a_plain_autoencoder_is_linear(tmp_path):
    run = make_run(tmp_path / "ae", "conv", {"latent_dim": 2, "channels": [4]}, (1, 8, 8))
    for name in ("a.png", "b.png"):
        Image.fromarray(
            np.random.default_rng(len(name)).integers(0, 256, (8, 8), dtype=np.uint8)
        ).save(tmp_path / name)
    _, how = interpolate(run, tmp_path / "o", a=tmp_path / "a.png", b=tmp_path / "b.png", steps=3)
    assert how == "linear interpolation"


def test_cli_commands_end_to_end(vae_run, tmp_path, capsys):
    assert main(["sample", str(vae_run), "--n", "3", "--out", str(tmp_path / "s"), "--sheet"]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "sample_0.png",
        "sample_1.png",
        "sample_2.png",
        "sheet.json",
        "sheet.png",
    ]
    assert (
        main(
            [
                "encode",
                str(vae_run),
                str(tmp_path / "s" / "sample_0.png"),
                "--out",
                str(tmp_path / "c.csv"),
            ]
        )
        == 0
    )
    assert (
        main(["decode", str(vae_run), str(tmp_path / "c.csv"), "--out", str(tmp_path / "d")]) == 0
    )
    assert (tmp_path / "d" / "sample_0.png").is_file()
    assert (
        main(
            [
                "interpolate",
                str(vae_run),
                "--from-class",
                "0",
                "--to-class",
                "9",
                "--steps",
                "3",
                "--out",
                str(tmp_path / "i"),
                "--gif",
            ]
        )
        == 0
    )
    assert "spherical interpolation" in capsys.readouterr().out
    assert main(["sample", str(vae_run), "--n", "0", "--out", str(tmp_path / "z")]) == 2
    assert (
        main(
            [
                "interpolate",
                str(vae_run),
                "--from-class",
                "0",
                "--to-class",
                "ten",
                "--out",
                str(tmp_path / "j"),
            ]
        )
        == 2
    )
    assert "the classes are: 0, 1, 2" in capsys.readouterr().err


# --- hostile input: each refused in one line where it enters -------------------------
def _refused(argv: list[str], capsys, *fragments: str) -> str:
    """Runs ``aekit ARGV`` as a user does; it must exit 2 with one stderr line holding
    ``fragments``."""
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("aekit: error: "), err
    assert all(fragment in err for fragment in fragments), (fragments, err)
    return err


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_sample_and_interpolate_refuse_bad_numbers_in_one_line(vae_run, docs_run, tmp_path, capsys):
    out = str(tmp_path / "s")
    for value in ("inf", "nan", "-1", "0"):
        _refused(
            ["sample", str(vae_run), "--out", out, "--temperature", value],
            capsys,
            "--temperature",
            "positive finite",
        )
    for value in (str(2**64), str(2**63), "-1"):
        _refused(
            ["sample", str(vae_run), "--out", out, "--seed", value],
            capsys,
            "--seed",
            "2**63-1",
            value,
        )
    _refused(
        [
            "encode",
            str(vae_run),
            "--dataset",
            "digits",
            "--sample",
            "--seed",
            "-5",
            "--out",
            str(tmp_path / "c.csv"),
        ],
        capsys,
        "--seed",
    )
    _refused(
        ["sample", str(vae_run), "--out", out, "--device", "gpu"], capsys, "unknown device 'gpu'"
    )
    before = _peak_rss_mb()
    _refused(
        [
            "interpolate",
            str(vae_run),
            "--from-class",
            "0",
            "--to-class",
            "1",
            "--steps",
            "1000000000",
            "--out",
            str(tmp_path / "i"),
        ],
        capsys,
        "--steps must be between 2 and 1,000",
    )
    assert _peak_rss_mb() - before < 100  # refused before a billion codes were made
    with pytest.raises(SystemExit):
        main(["interpolate", "--help"])
    # the help states the limit
    assert f"(2 to {MAX_STEPS:,})" in " ".join(capsys.readouterr().out.split())
    assert not (tmp_path / "s").exists() and not (tmp_path / "i").exists()
    # the largest seed
    assert main(["sample", str(vae_run), "--out", out, "--seed", str(2**63 - 1), "--n", "2"]) == 0


def test_a_document_cleaner_is_said_not_to_generate_with_or_without_a_prior(
    docs_run, tmp_path, capsys
):
    # not "fit a prior first", which fit-prior then refuses for pages
    for prior in ([], ["--prior", "gmm"]):
        err = _refused(
            ["sample", str(docs_run), "--out", str(tmp_path / "s"), *prior],
            capsys,
            "document cleaners do not generate",
            "aekit denoise",
        )
        assert "fit-prior" not in err


def _write_npy_header(path: Path, shape: tuple[int, ...], data: bytes = b"") -> Path:
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f4", "fortran_order": False, "shape": shape}
        )
        handle.write(data)
    return path


def test_decode_refuses_bad_code_files_in_one_line_naming_file_and_row(vae_run, tmp_path, capsys):
    structured = np.zeros(2, dtype=[("name", "U4"), ("label", "U1"), ("code", np.float32, 3)])
    structured["name"] = ["ok", "bad"]
    structured["code"][1, 2] = np.inf
    cases = {
        "empty.npy": (lambda p: p.write_bytes(b""), "empty file"),
        "scalar.npy": (lambda p: np.save(p, np.float32(1)), "0-dimensional"),
        "rows0.npy": (lambda p: np.save(p, np.zeros((0, 3), np.float32)), "no codes"),
        "text.npy": (lambda p: np.save(p, np.array(["a", "b"])), "codes are numbers"),
        "objects.npy": (
            lambda p: np.save(p, np.array([1, None], dtype=object), allow_pickle=True),
            "Python objects",
        ),
        "size.npy": (
            lambda p: np.save(p, np.zeros((2, 5), np.float32)),
            "5 numbers each, the model's latent has 3",
        ),
        "nan.npy": (
            lambda p: np.save(p, np.array([[0, 0, 0], [0, np.nan, 0]], np.float32)),
            "row 2 of 2 (name '1') holds nan",
        ),
        "inf.npy": (lambda p: np.save(p, structured), "row 2 of 2 (name 'bad') holds inf"),
        "header.csv": (lambda p: p.write_text("name,label,z0,z1,z2\n"), "no rows of codes"),
        "ragged.csv": (
            lambda p: p.write_text("name,label,z0,z1,z2\na,,1,2,3\nb,,1,2\n"),
            "line 3 has 4 values",
        ),
        "word.csv": (
            lambda p: p.write_text("name,label,z0,z1,z2\na,,1,x,3\n"),
            "line 2: the codes are not all numbers",
        ),
        "big.csv": (
            lambda p: p.write_text("name,label,z0,z1,z2\na,,1,2,3\nb,,1e39,0,0\n"),
            "row 2 of 2 (name 'b') holds inf",
        ),
        "empty.csv": (lambda p: p.write_text(""), "empty file"),
    }
    for name, (write, fragment) in cases.items():
        write(tmp_path / name)
        _refused(
            ["decode", str(vae_run), str(tmp_path / name), "--out", str(tmp_path / "out")],
            capsys,
            name,
            fragment,
        )
    # claims 12 TB, holds 24 bytes
    truncated = _write_npy_header(tmp_path / "truncated.npy", (10**12, 3), bytes(24))
    before = _peak_rss_mb()
    _refused(
        ["decode", str(vae_run), str(truncated), "--out", str(tmp_path / "out")],
        capsys,
        "truncated.npy",
        "header promises an array of shape (1000000000000, 3)",
        "holds 24 bytes",
    )
    assert _peak_rss_mb() - before < 100
    assert not (tmp_path / "out").exists()


def test_decode_names_files_safely_and_says_so(vae_run, tmp_path, capsys):
    names = [
        "../../escape",
        "/etc/passwd",
        "a\\b",
        "nul\0byte",
        "bell\x07\x1b[31m",
        "..",
        "",
        "same",
        "same",
        "x" * 300,
        "tile.png:r1c2",
        "kept.jpg",
    ]
    rows = "".join(f'"{name}",,0,0,0\n' for name in names)
    (tmp_path / "codes.csv").write_text("name,label,z0,z1,z2\n" + rows)
    assert (
        main(["decode", str(vae_run), str(tmp_path / "codes.csv"), "--out", str(tmp_path / "out")])
        == 0
    )
    assert "9 code name(s) changed into safe file names" in capsys.readouterr().err
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.png"))
    assert written == sorted(
        Path("out") / name
        for name in [
            "code_00.png",
            "_etc_passwd.png",
            "a_b.png",
            "nul_byte.png",
            "bell__[31m.png",
            "code_05.png",
            "code_06.png",
            "same.png",
            "code_08.png",
            "code_09.png",
            "tile.png:r1c2.png",
            "kept.png",
        ]
    )


def _unreadable_inputs(folder: Path) -> list[str]:
    """A folder with one good image and three inputs that cannot be read, returned as their
    paths."""
    folder.mkdir()
    Image.fromarray(np.full((8, 8), 99, np.uint8)).save(folder / "good.png")
    (folder / "notes.png").write_text("not an image")
    (folder / "loop.png").symlink_to("loop.png")  # a link to itself
    (folder / "broken.png").symlink_to("missing.png")
    (folder / "sub.png").mkdir()  # a folder named like an image is searched, not read
    return [str(folder / name) for name in ("broken.png", "loop.png", "notes.png")]


def test_unreadable_inputs_are_skipped_and_named_even_when_quiet(
    vae_run, docs_run, tmp_path, capsys
):
    bad = _unreadable_inputs(tmp_path / "in")
    reasons = ["broken link", "symbolic-link loop", "not an image"]
    for argv in (
        ["denoise", str(docs_run), str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--quiet"],
        [
            "encode",
            str(vae_run),
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "codes.csv"),
            "--quiet",
        ],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 1  # some files worked
        printed = capsys.readouterr()
        lines = printed.err.splitlines()
        assert len(lines) == 3 and all(
            line.startswith(f"skipped {path}: {reason}")
            for line, path, reason in zip(lines, bad, reasons)
        )
        assert ("of 1 image(s)" if argv[0] == "encode" else "denoised 1 file(s)") in printed.out
        assert printed.out.strip().endswith(f"3 failed: {', '.join(bad)}")
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["good.png"]
    assert read_codes(tmp_path / "codes.csv")[1] == ["good.png"]
    # nothing readable at all: refused input (exit 2), after the line naming the file
    assert main(["denoise", str(docs_run), bad[1], "--out", str(tmp_path / "none"), "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"skipped {bad[1]}: symbolic-link loop: the link never reaches a file",
        "aekit: error: none of the 1 file(s) could be read as an image (each named above)",
    ]
    _refused(
        [
            "interpolate",
            str(vae_run),
            str(tmp_path / "in" / "sub.png"),
            str(tmp_path / "in" / "good.png"),
            "--out",
            str(tmp_path / "i"),
        ],
        capsys,
        "sub.png: is a folder, not an image file",
    )


def test_sample_memory_does_not_grow_with_n(vae_run, tmp_path, monkeypatch):
    """Names and images stream batch by batch: 20x the samples, the same peak (a list of every
    name, or of every path returned, would add ~5 MB at n = 20,000). The writer holds 512 images
    at a time here (20,000 by default), and the PNG writing is left out (names collected instead)
    to keep the test fast; the files themselves are tested above."""
    import gc
    import tracemalloc

    written = []
    # compress_level, workers, chunk
    monkeypatch.setattr(ImageWriter.__init__, "__defaults__", (1, 2, 512))
    monkeypatch.setattr(
        ImageWriter, "_write_files", lambda self, array, names: written.append(max(names))
    )
    model = load_model(vae_run)
    peaks = {}
    for n in (1000, 20_000):
        written.clear()
        gc.collect()
        tracemalloc.start()
        files = sample_command(model, tmp_path / str(n), n)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(files) == n and files[-1] == tmp_path / str(n) / f"sample_{n - 1}.png"
        assert max(written) == files[-1].name
    assert peaks[20_000] < peaks[1000] + 500_000, peaks


def test_encode_names_rows_by_file_and_encodes_every_split(vae_run, tmp_path, capsys):
    folder = tmp_path / "shapes"
    for k in range(10):
        (folder / "ab"[k % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 20 * k, np.uint8)).save(folder / "ab"[k % 2] / f"{k}.png")
    spec = f"folder:{folder}"
    assert (
        main(
            [
                "encode",
                str(vae_run),
                "--dataset",
                spec,
                "--out",
                str(tmp_path / "test.csv"),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "encode",
                str(vae_run),
                "--dataset",
                spec,
                "--split",
                "all",
                "--out",
                str(tmp_path / "all.csv"),
                "--quiet",
            ]
        )
        == 0
    )
    _, test_names, test_labels = read_codes(tmp_path / "test.csv")
    _, all_names, all_labels = read_codes(tmp_path / "all.csv")
    every = {f"{'ab'[k % 2]}/{k}.png" for k in range(10)}
    assert (
        len(all_names) == 10
        and set(all_names) == every
        and all_names[-len(test_names) :] == test_names
    )
    assert all(name.startswith(label + "/") for name, label in zip(all_names, all_labels))
    assert (
        main(
            ["decode", str(vae_run), str(tmp_path / "all.csv"), "--out", str(tmp_path / "decoded")]
        )
        == 0
    )
    assert {p.name for p in (tmp_path / "decoded").iterdir()} == {
        name.replace("/", "_") for name in every
    }
    assert "10 code name(s) changed" in capsys.readouterr().err  # the class folder's '/' became '_'
    assert (
        main(
            [
                "encode",
                str(vae_run),
                "--dataset",
                "digits",
                "--split",
                "all",
                "--out",
                str(tmp_path / "d.npy"),
            ]
        )
        == 0
    )
    names = read_codes(tmp_path / "d.npy")[1]
    # digits have no file names
    assert len(names) == 1797 and names[0] == "train_0000" and names[-1] == "test_299"


def test_missing_documents_name_aekit_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    _refused(
        ["train", "--dataset", "documents", "--out", str(tmp_path / "run"), "--quiet"],
        capsys,
        "put them in $AEKIT_DATA/documents/",
        str(tmp_path / "data" / "documents"),
    )


def test_commands_run_on_the_best_device_by_default():
    from aekit.cli import build_parser

    parser = build_parser()
    for argv in (
        ["denoise", "r", "x.png", "--out", "o"],
        ["sample", "r", "--out", "o"],
        ["encode", "r", "--out", "c.npy"],
        ["decode", "r", "c.npy", "--out", "o"],
        ["interpolate", "r", "--out", "o"],
    ):
        assert parser.parse_args(argv).device == "auto" == TrainConfig().device, argv
