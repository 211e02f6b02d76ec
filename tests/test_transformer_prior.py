"""The transformer prior over code maps: it learns what a per-position frequency table cannot, keeps
classes apart, survives a save/load round trip, refuses huge sizes from its JSON in one line; the
default model for small colour images is the code map with this prior, fitted in the same run."""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
from pathlib import Path

import pytest
import torch

import aekit
from aekit.cli import main
from aekit.config import TrainConfig
from aekit.errors import ConfigError
from aekit.models.defaults import choose
from aekit.priors import TransformerPrior, add_fit_arguments, fit_prior, load_prior

TINY = {"width": 32, "layers": 1, "heads": 2, "dropout": 0.0}


def _uniform_maps(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """2 x 3 maps of one token repeated: class 0 picks it from 0..3, class 1 from 4..7."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (n,), generator=g)
    token = torch.randint(4, (n,), generator=g) + 4 * labels
    return token.view(n, 1, 1).expand(n, 2, 3).clone(), labels


def _position_frequencies_log_prob(
    train: torch.Tensor, labels: torch.Tensor, test: torch.Tensor, test_labels: torch.Tensor
) -> float:
    """The strongest baseline without context: each position's token frequencies within the
    class."""
    total = torch.zeros(len(test), dtype=torch.float64)
    for c in (0, 1):
        rows = train[labels == c].flatten(1)
        counts = (
            torch.stack(
                [torch.bincount(rows[:, p], minlength=8) for p in range(rows.shape[1])]
            ).double()
            + 0.5
        )
        logp = (counts / counts.sum(1, keepdim=True)).log()
        picked = test[test_labels == c].flatten(1)
        total[test_labels == c] = logp.gather(1, picked.t()).t().sum(1)
    return float(total.mean())


@pytest.fixture(scope="module")
def tiny_prior() -> TransformerPrior:
    codes, labels = _uniform_maps(600, 0)
    return TransformerPrior((2, 3), 2, num_codes=8, steps=400, **TINY).fit(codes, labels, seed=0)


def test_learns_context_keeps_classes_apart_and_samples_with_top_k(tiny_prior: TransformerPrior):
    codes, labels = _uniform_maps(600, 0)
    test, test_labels = _uniform_maps(200, 1)
    prior = TransformerPrior((2, 3), 2, num_codes=8, **TINY)
    prior.load_state_dict(tiny_prior.state_dict())
    prior.eval()
    with torch.no_grad():
        learned = float(prior.log_prob(test, test_labels).mean())
        marginal = prior.log_prob(test)
    # one token decides the map: log(1/4) = -1.39 nats given the class, -8.3 position by position
    assert learned > _position_frequencies_log_prob(codes, labels, test, test_labels) + 5
    assert learned > -2.0 and torch.isfinite(marginal).all() and float(marginal.mean()) < learned
    g = torch.Generator().manual_seed(0)
    loose = prior.sample(200, g, torch.zeros(200, dtype=torch.long))
    assert float((loose < 4).float().mean()) > 0.95  # at temperature 1 the tail keeps a little mass
    prior.config.temperature = 0.5
    for c in (0, 1):
        drawn = prior.sample(100, g, torch.full((100,), c))
        assert drawn.shape == (100, 2, 3) and drawn.dtype == torch.long
        assert ((drawn >= 4 * c) & (drawn < 4 * c + 4)).all()  # only class c's tokens
        assert (drawn == drawn[:, :1, :1]).all()  # one token repeated, as every training map
        assert len(drawn[:, 0, 0].unique()) == 4  # and all four of them
    assert (prior.likeliest_class(test) == test_labels).all()
    greedy = TransformerPrior((2, 3), 2, num_codes=8, top_k=1, **TINY)
    greedy.load_state_dict(prior.state_dict())
    first = greedy.eval().sample(20, g, torch.zeros(20, dtype=torch.long))
    assert (first == first[0]).all()  # top_k 1: the likeliest token every time


def test_vary_keeps_everything_at_spread_0_and_redraws_at_spread_1(tiny_prior: TransformerPrior):
    prior = TransformerPrior((2, 3), 2, num_codes=8, temperature=0.5, **TINY)
    prior.load_state_dict(tiny_prior.state_dict())
    prior.eval()
    start = torch.full((40, 2, 3), 1)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(prior.vary(start, 0.0, g, torch.zeros(40, dtype=torch.long)), start)
    redrawn = prior.vary(start, 1.0, g, torch.ones(40, dtype=torch.long))
    assert (redrawn >= 4).all()  # every index redrawn, from class 1's tokens
    half = prior.vary(start, 0.5, g, torch.ones(40, dtype=torch.long))
    assert 0 < float((half == 1).float().mean()) < 1  # some kept, some redrawn


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`aekit train` without --model on 60 small RGBA images of two classes (in ``run/../images``):
    the default path, a few seconds."""
    root = tmp_path_factory.mktemp("colour") / "images"
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for c, name in enumerate(("red", "blue")):
        (root / name).mkdir(parents=True)
        for i in range(30):
            image = torch.zeros(16, 16, 4, dtype=torch.uint8)
            size = int(torch.randint(4, 8, (1,), generator=g))
            image[8 - size : 8 + size, 8 - size : 8 + size] = torch.tensor(
                [200 * (1 - c), 40, 200 * c, 255], dtype=torch.uint8
            )
            Image.fromarray(image.numpy(), "RGBA").save(root / name / f"{i}.png")
    out = root.parent / "run"
    aekit.train(
        TrainConfig(
            dataset=f"folder:{root}",
            image_size="16",
            epochs=2,
            batch_size=16,
            out=str(out),
            quiet=True,
            max_minutes=0.15,
            model_options={"channels": [8, 8], "res_blocks": 1, "codebook_size": 16, "code_dim": 4},
        )
    )
    return out


def test_train_without_model_on_colour_images_fits_the_transformer_in_the_same_run(
    colour_run: Path, tmp_path: Path
):
    config = json.loads((colour_run / "config.json").read_text())
    assert config["model"] == "vq-vae" and config["model_options"]["fitted_prior"] == "transformer"
    info = json.loads((colour_run / "prior-transformer.json").read_text())
    assert info["class_conditional"] and info["options"]["code_shape"] == [4, 4]
    assert info["seconds"] < 0.15 * 60  # within what max_minutes left
    assert (
        main(
            ["sample", str(colour_run), "--n", "6", "--class", "blue", "--out", str(tmp_path / "s")]
        )
        == 0
    )
    assert len(list((tmp_path / "s").glob("*.png"))) == 6


def test_save_load_round_trip_gives_the_same_densities_and_draws(colour_run: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(colour_run, run)
    fit_prior(run, "transformer", steps=20, temperature=0.7, top_k=5, **TINY)
    first, second = load_prior(run, "transformer"), load_prior(run, "transformer")
    assert first.config.temperature == 0.7 and first.config.top_k == 5
    maps = torch.randint(16, (5, 4, 4))
    with torch.no_grad():
        assert torch.equal(first.log_prob(maps), second.log_prob(maps))
    draws = [p.sample(8, torch.Generator().manual_seed(3)) for p in (first, second)]
    assert torch.equal(*draws)
    info = json.loads((run / "prior-transformer.json").read_text())
    assert math.isfinite(info["heldout_log_prob"])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("width", 10**7, "width must be at least 8 and at most 2,048, got 10000000"),
        ("num_codes", 10**9, "num_codes must be an integer from 2 to 65,536"),
        ("code_shape", [1, 2, 3], "prior 'transformer' is over h x w index maps"),
    ],
)
def test_a_transformer_file_claiming_huge_sizes_is_refused_in_one_line(
    colour_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: object,
    message: str,
):
    run = tmp_path / "run"
    shutil.copytree(colour_run, run)
    info = run / "prior-transformer.json"
    described = json.loads(info.read_text())
    described["options"][option] = value
    info.write_text(json.dumps(described))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "out")]) == 2
    # kB: nothing big was allocated
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"aekit: error: {info}: ") and message in err
    assert not (tmp_path / "out").exists()


def test_default_model_for_small_colour_images_is_the_code_map_path():
    g = torch.Generator().manual_seed(0)
    colour = (torch.rand(50, 4, 32, 32, generator=g) * 255).round() / 255
    name, options, why = choose(colour, (4, 32, 32))
    assert (
        name == "vq-vae"
        and options["fitted_prior"] == "transformer"
        and options["channels"] == [64, 128]
    )
    assert why.startswith("vq-vae + transformer prior for small colour 32x32 images: a 8x8 map")
    assert choose(colour[:, :3], (3, 32, 32))[0] == "vq-vae"
    assert choose(colour[:, :3].repeat(1, 1, 2, 2)[:, :, :64, :64], (3, 64, 64))[1]["channels"] == [
        64,
        128,
        128,
    ]
    # unchanged: small grey images, and colour images larger than 64 px
    assert choose(colour[:, :1, :28, :28], (1, 28, 28))[0] == "conv-vae"
    big = colour[:, :3].repeat(1, 1, 3, 3)
    assert choose(big, (3, 96, 96))[0] == "res-vae"


def test_like_at_spread_0_is_the_reconstruction_and_at_spread_1_new_sprites(
    colour_run: Path, tmp_path: Path
):
    from aekit.images import read_image_file
    from aekit.variations import variation_batches

    model, prior = aekit.load(colour_run), load_prior(colour_run, "transformer")
    files = sorted((colour_run.parent / "images").glob("*/*.png"))
    image = read_image_file(files[0]).pixels
    with torch.no_grad():
        reconstruction = model.decode(model.encode(image[None]))
    same = torch.cat(list(variation_batches(model, prior, image, 5, 0.0, seed=1)))
    assert same.shape == (5, 4, 16, 16) and torch.allclose(
        same, reconstruction.expand(5, -1, -1, -1), atol=1e-5
    )
    new = torch.cat(list(variation_batches(model, prior, image, 5, 1.0, seed=1)))
    assert (new - reconstruction).abs().flatten(1).amax(1).min() > 0  # every one differs
    out = tmp_path / "like"
    assert (
        main(
            [
                "sample",
                str(colour_run),
                "--like",
                str(files[0]),
                "--spread",
                "0",
                "--n",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    written = [read_image_file(p).pixels for p in sorted(out.glob("*.png"))]
    assert len(written) == 3 and all(
        (w - reconstruction[0]).abs().max() <= 1 / 255 for w in written
    )
    assert (
        main(
            [
                "sample",
                str(colour_run),
                "--like",
                str(files[0]),
                "--spread",
                "1.5",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )


def test_sampling_with_cached_keys_gives_the_full_pass_logits_at_every_position():
    """vary() steps one token at a time with each layer's keys and values kept; its logits must be
    those of the full causal pass (``logits``), which fitting and log_prob use."""
    torch.manual_seed(0)
    prior = TransformerPrior(
        (3, 4), 3, num_codes=10, width=32, layers=2, heads=4, dropout=0.0
    ).eval()
    tokens, classes = torch.randint(10, (5, 12)), torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        full = prior.logits(tokens, classes)
        cache: list = []
        stepped = [
            prior._next_logits(
                (prior.start(classes) if t == 0 else prior.token(tokens[:, t - 1]))
                + prior.position[t],
                cache,
            )
            for t in range(12)
        ]
    assert torch.allclose(torch.stack(stepped, 1), full, atol=1e-5)
    # the positions differ: the check can fail
    assert not torch.allclose(stepped[5], full[:, 4], atol=1e-3)


def _overlapping_maps(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """2 x 3 maps of one token repeated: class c takes it from its own four tokens (4c..4c+3) 60%
    of the time and from the other class's 40%, so the plain conditional model matches its class
    in 60% of draws."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (n,), generator=g)
    own = torch.rand(n, generator=g) < 0.6
    group = torch.where(own, labels, 1 - labels)
    token = torch.randint(4, (n,), generator=g) + 4 * group
    return token.view(n, 1, 1).expand(n, 2, 3).clone(), labels


def test_guidance_draws_more_maps_of_the_class_than_the_plain_conditional_model():
    codes, labels = _overlapping_maps(1200, 0)
    prior = TransformerPrior((2, 3), 2, num_codes=8, steps=500, class_dropout=0.3, **TINY)
    prior.fit(codes, labels, seed=0)
    assert prior.start.num_embeddings == 3  # the classes and "no class"
    matches = {}
    for guidance in (1.0, 3.0):
        prior.config.guidance = guidance
        asked = torch.arange(600) % 2
        drawn = prior.sample(600, torch.Generator().manual_seed(1), asked)
        assert drawn.shape == (600, 2, 3) and 0 <= int(drawn.min()) and int(drawn.max()) < 8
        matches[guidance] = float((drawn // 4 == asked.view(-1, 1, 1)).double().mean())
    # p_c^3 / p_u^2 puts 77% on the class's own tokens where p_c puts 60%
    assert 0.5 < matches[1.0] < 0.7 and matches[3.0] > matches[1.0] + 0.08
    # scoring stays the plain conditional model: log p(map | class) does not depend on g
    with torch.no_grad():
        plain = prior.log_prob(codes[:50], labels[:50])
        prior.config.guidance = 1.0
        assert torch.equal(plain, prior.log_prob(codes[:50], labels[:50]))


def test_a_prior_saved_before_guidance_loads_and_samples_as_before(
    colour_run: Path, tmp_path: Path
):
    """A JSON file without class_dropout and guidance and a safetensors file without the "no
    class" token (what aekit wrote before them) load as the prior fitted without class dropout,
    drawing the same maps; guidance is refused for it (it has no token to guide by)."""
    run = tmp_path / "run"
    shutil.copytree(colour_run, run)
    fit_prior(run, "transformer", steps=20, class_dropout=0.0, **TINY)
    labels = torch.tensor([0, 1] * 8)
    fitted = load_prior(run, "transformer")
    info = run / "prior-transformer.json"
    described = json.loads(info.read_text())
    for key in ("class_dropout", "guidance"):
        del described["options"][key]
    info.write_text(json.dumps(described))
    old = load_prior(run, "transformer")
    assert old.config.class_dropout == 0 and not old.guided
    assert old.start.num_embeddings == 2  # red and blue, no "no class" token
    draws = [p.sample(16, torch.Generator().manual_seed(3), labels) for p in (fitted, old)]
    assert torch.equal(*draws)
    described["options"]["guidance"] = 3.0
    info.write_text(json.dumps(described))
    with pytest.raises(ConfigError, match="guidance needs class labels and class_dropout"):
        load_prior(run, "transformer")
    # a prior fitted with class dropout has one token more, and its files say so
    fit_prior(run, "transformer", steps=20, class_dropout=0.1, guidance=2.0, **TINY)
    new = load_prior(run, "transformer")
    assert new.guided and new.config.guidance == 2.0 and new.start.num_embeddings == 3
    parser = argparse.ArgumentParser()
    add_fit_arguments(parser)
    assert "--class-dropout" in parser.format_help() and "--guidance" in parser.format_help()
