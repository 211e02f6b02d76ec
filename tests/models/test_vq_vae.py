"""vq-vae: the PixelCNN sees exactly the indices before each position, the EMA codebook finds the
data's clusters and restarts dead codes, FSQ indices round-trip, and a plain training run
samples."""

from __future__ import annotations

import json
import math

import pytest
import torch

from aekit.config import TrainConfig
from aekit.errors import ConfigError
from aekit.models import build_model
from aekit.models.quantizers import EMAQuantizer, FSQuantizer
from aekit.models.vq_vae import (
    PixelCNN,
    alpha_levels,
    code_frequency_nats,
    transparent_patch_codes,
)


def test_pixelcnn_position_depends_on_every_earlier_index_and_no_later_one():
    torch.manual_seed(0)
    net = PixelCNN(num_codes=5, channels=8, layers=4, kernel=3).eval()
    h = w = 4
    base = torch.randint(5, (1, h, w))
    with torch.no_grad():
        reference = net(base)
        for p in range(h * w):
            changed = base.clone()
            changed.view(-1)[p] = (changed.view(-1)[p] + 1) % 5
            moved = (net(changed) - reference).abs().amax(1).view(-1) > 1e-6
            expected = torch.arange(h * w) > p  # raster order: exactly the later positions see p
            assert torch.equal(moved, expected), (p, moved.view(h, w))


def test_pixelcnn_learns_and_samples_a_dependent_distribution():
    """Maps whose every index copies the first one: independent positions would mix indices."""
    torch.manual_seed(0)
    net = PixelCNN(num_codes=4, channels=16, layers=2, kernel=3)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        maps = torch.randint(4, (64, 1, 1)).expand(64, 2, 3).contiguous()
        loss = -net.log_prob(maps).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # far below an independent model (log 4 per position after the first)
    assert loss.item() < 0.2 * math.log(4) * 6
    samples = net.eval().sample(200, (2, 3), torch.Generator().manual_seed(0))
    constant = (samples == samples[:, :1, :1]).flatten(1).all(1).float().mean()
    assert constant > 0.9
    assert len(samples[:, 0, 0].unique()) == 4  # every mode drawn


def test_ema_codebook_finds_the_clusters_and_restarts_dead_codes():
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
    quantizer = EMAQuantizer(num_codes=8, dim=2, decay=0.8, restart_after=3)
    for _ in range(60):
        z = (centres[torch.randint(4, (256,))] + 0.1 * torch.randn(256, 2)).T.reshape(1, 2, 16, 16)
        quantizer.update(z, quantizer.indices(z))
    distance = torch.cdist(centres, quantizer.codebook)
    assert distance.min(1).values.max() < 0.2  # every cluster has a code at its centre
    # a code nobody chose for two steps, and not in the next batch either
    quantizer.idle_steps[0] = 2
    z = torch.randn(1, 2, 4, 4) + 20.0  # far from every code
    quantizer.update(z, torch.ones(1, 4, 4, dtype=torch.long))
    vectors = z.movedim(1, -1).reshape(-1, 2)
    # restarted at an encoder output
    assert torch.cdist(quantizer.codebook[:1], vectors).min() < 1e-5


def test_fsq_indices_round_trip_and_cover_the_codebook():
    fsq = FSQuantizer((8, 5, 3))
    assert fsq.num_codes == 120
    codes = fsq.lookup(torch.arange(120).view(1, 120, 1))
    assert codes.shape == (1, 3, 120, 1) and codes.abs().max() <= 1
    assert torch.equal(fsq.indices_of(codes), torch.arange(120).view(1, 120, 1))
    z = (torch.randn(4, 3, 5, 5) * 3).requires_grad_()
    quantized = fsq.quantize(z)
    assert torch.equal(fsq.lookup(fsq.indices_of(quantized)), quantized.detach())  # on the grid
    quantized.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0  # straight-through gradient


def test_prior_cross_entropy_does_not_reach_the_encoder():
    torch.manual_seed(0)
    model = build_model(
        "vq-vae", {"channels": [8, 8], "prior_channels": 8, "prior_layers": 2}, (1, 8, 8)
    ).train()
    terms = model.loss(torch.rand(4, 1, 8, 8))
    terms["prior"].backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.prior.parameters())


def test_training_run_logs_codebook_use_and_samples(tmp_path):
    import aekit

    # least perplexity after 4 short epochs: vq without restarts fell to ~1 (every vector on one
    # stale code)
    for quantizer, least_perplexity in (("vq", 8), ("fsq", 2)):
        options = {
            "quantizer": quantizer,
            "channels": [16, 16],
            "codebook_size": 16,
            "code_dim": 4,
            "levels": [4, 4],
            "prior_channels": 16,
            "prior_layers": 3,
        }
        out = tmp_path / quantizer
        run = aekit.train(
            TrainConfig(
                model="vq-vae",
                dataset="digits",
                epochs=4,
                batch_size=32,
                max_train_images=1000,
                model_options=options,
                out=str(out),
                quiet=True,
                seed=0,
            )
        )
        history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert {"recon", "prior", "codebook_use", "perplexity"} <= set(history[-1]["train"])
        # codes spread over the codebook, no collapse
        assert history[-1]["val"]["perplexity"] > least_perplexity
        uniform = 4 * math.log(16)  # a 2x2 map of 16 codes, every index equally likely
        assert history[-1]["val"]["prior"] < uniform
        first, last = history[0]["val"]["recon"], history[-1]["val"]["recon"]
        assert last < first
        model = aekit.load(out)
        samples = model.sample(6, generator=torch.Generator().manual_seed(0))
        assert samples.shape == (6, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1
        x = run.model.reconstruct(torch.rand(3, 1, 8, 8))
        assert x.shape == (3, 1, 8, 8)


def test_code_frequency_nats_is_the_per_class_entropy_of_the_codes():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(2, (400,), generator=g)
    # class c: codes 2c, 2c + 1
    codes = torch.randint(2, (400, 3, 3), generator=g) + 2 * labels.view(-1, 1, 1)
    test_labels = torch.randint(2, (100,), generator=g)
    test = torch.randint(2, (100, 3, 3), generator=g) + 2 * test_labels.view(-1, 1, 1)
    nats = code_frequency_nats(codes, labels, test, test_labels, num_codes=8)
    assert abs(nats - math.log(2)) < 0.01  # two equally likely codes per class
    pooled = code_frequency_nats(
        codes, torch.zeros_like(labels), test, torch.zeros_like(test_labels), num_codes=8
    )
    assert abs(pooled - math.log(4)) < 0.02  # without the classes: four


def test_transparent_patch_codes_counts_codes_of_empty_patches_only():
    images = torch.zeros(2, 4, 8, 8)
    images[0, :, :4, :4] = 1.0  # image 0: top-left 4x4 patch opaque, the other three transparent
    images[1, 3, 6, 6] = 0.5  # image 1: one half-transparent pixel in the bottom-right patch
    codes = torch.tensor([[[7, 1], [2, 2]], [[3, 3], [3, 9]]])  # 2 x 2 maps of 4x4 patches
    stats = transparent_patch_codes(images, codes)
    assert stats["share"] == 6 / 8  # 7 and 9 sit on patches with some alpha
    assert stats["distinct"] == 3  # codes 1, 2, 3 (counts 1, 2, 3)
    p = torch.tensor([1, 2, 3], dtype=torch.float64) / 6
    assert abs(stats["perplexity"] - math.exp(-(p * p.log()).sum())) < 1e-9
    # a style row above the patches' rows (codes of the whole sprite) is not a patch
    styled = torch.cat([torch.full((2, 1, 2), 5), codes], 1)
    assert transparent_patch_codes(images, styled) == stats


def _style_model(style_row: bool):
    options = {
        "channels": [8, 16],
        "codebook_size": 16,
        "code_dim": 4,
        "prior_channels": 8,
        "prior_layers": 1,
        "straight_alpha": True,
        "style_row": style_row,
    }
    return build_model("vq-vae", options, (4, 16, 16))


def test_style_row_is_the_first_row_of_the_code_map_and_round_trips():
    torch.manual_seed(0)
    plain, styled = _style_model(False), _style_model(True)
    assert plain.code_shape == (4, 4) and plain.latent_dim == 16
    assert styled.code_shape == (5, 4) and styled.latent_dim == 20
    x = torch.rand(3, 4, 16, 16)
    styled.loss(x)  # the first training step starts the codebook at encoder outputs
    with torch.no_grad():
        codes = styled.encode(x)
        assert codes.shape == (3, 5, 4) and codes.max() < 16
        # decoding the codes is the reconstruction, and the same codes encode the same again
        assert torch.equal(styled.decode(codes), styled.reconstruct(x))
        assert styled.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 4, 16, 16)
    # the style row comes from the whole sprite: it is not the code of any one patch
    rows = {name for name, _ in styled.named_parameters()} - {
        name for name, _ in plain.named_parameters()
    }
    assert rows == {
        "style_encoder.weight",
        "style_encoder.bias",
        "style_film.weight",
        "style_film.bias",
    }


def test_a_model_without_the_style_row_is_unchanged():
    """The same weights as before the style row existed: the plain encoder and decoder alone."""
    torch.manual_seed(0)
    model = _style_model(False)
    x = torch.rand(2, 4, 16, 16)
    model.loss(x)
    with torch.no_grad():
        codes = model.quantizer.indices(model.encoder(x))
        assert torch.equal(model.encode(x), codes)
        assert torch.equal(
            model.decode(codes), model._image(model.decoder(model.quantizer.lookup(codes)))
        )


def test_the_decoder_paints_with_the_style_row():
    """Trained briefly on squares of one shape in random flat colours, a red square's patch codes
    under a blue square's style row lose their red: the colour travels in the style row (a decoder
    that ignored the row would draw the same red)."""
    torch.manual_seed(0)
    model = _style_model(True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def squares(colour: torch.Tensor) -> torch.Tensor:
        x = torch.zeros(len(colour), 4, 16, 16)
        x[:, :3, 4:12, 4:12] = colour.view(-1, 3, 1, 1)
        x[:, 3, 4:12, 4:12] = 1
        return x

    for _ in range(300):
        loss = model.loss(squares(torch.rand(32, 3)))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    red_blue = squares(torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9]]))
    with torch.no_grad():
        codes = model.encode(red_blue)
        swapped = codes.clone()
        swapped[0, 0] = codes[1, 0]  # the red square's patches, the blue square's style
        red, mixed = model.decode(codes)[0], model.decode(swapped)[0]
    inside = red[:3, 6:10, 6:10].mean((1, 2)), mixed[:3, 6:10, 6:10].mean((1, 2))
    assert inside[0][0] > inside[0][1:].max() + 0.2  # reconstructed red
    assert inside[1][0] < inside[0][0] - 0.4  # the blue square's style took the red away


def test_alpha_levels_are_the_common_alpha_values_with_clear_and_opaque():
    alpha = torch.zeros(1000)
    alpha[:600], alpha[600:650], alpha[650:655] = 1.0, 128 / 255, 77 / 255
    # a shadow level on 5% of the pixels is kept, one on 0.5% is not
    assert alpha_levels(alpha) == (0.0, 128 / 255, 1.0)
    assert alpha_levels(torch.full((10,), 0.5)) == (0.0, 128 / 255, 1.0)  # in 1/255 steps


def test_pictures_take_the_nearest_training_alpha_level_and_the_loss_the_soft_alpha():
    """A model that recorded clear and opaque draws pictures with alpha 0 or 1 only, colour at most
    alpha; without recorded levels (runs trained before them) the same weights draw soft alpha."""
    torch.manual_seed(0)
    model = _style_model(False)
    x = torch.zeros(8, 4, 16, 16)
    x[:, :3, 4:12, 4:12], x[:, 3, 4:12, 4:12] = 0.5, 1.0
    model.init_from_data(x)
    assert model.config.alpha_levels == (0.0, 1.0)
    model.loss(x)
    with torch.no_grad():
        codes = model.encode(x)
        picture = model.decode(codes)
        soft = model._image(model.decoder(model.quantizer.lookup(codes)))
    assert set(picture[:, 3].unique().tolist()) <= {0.0, 1.0}
    assert not set(soft[:, 3].unique().tolist()) <= {0.0, 1.0}  # an untrained decoder is unsure
    assert torch.equal(picture[:, 3], (soft[:, 3] >= 0.5).float())
    assert (picture[:, :3] <= picture[:, 3:]).all()
    with pytest.raises(
        ConfigError, match=r"alpha_levels must be alpha values from 0 to 1, got \[0.0, 5.0\]"
    ):
        build_model("vq-vae", {"straight_alpha": True, "alpha_levels": [0.0, 5.0]}, (4, 16, 16))
    unmeasured = _style_model(False)
    unmeasured.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(unmeasured.decode(codes), soft)
