"""What a model declares it offers (``models/base.py``) agrees with what it is: callers outside
``models/`` ask these capabilities instead of the model's class."""

from __future__ import annotations

import pytest

from aekit.models import MODELS, build_model
from aekit.models.linear import LinearAE
from aekit.models.vae import GaussianVAE
from aekit.models.vq_vae import VQVAE


@pytest.mark.parametrize("name", sorted(MODELS))
def test_declared_capabilities_match_the_model(name: str):
    cls = MODELS[name]
    assert cls.latent_kind in ("none", "gaussian", "discrete")
    assert (cls.latent_kind == "gaussian") == issubclass(cls, GaussianVAE)
    assert (cls.latent_kind == "discrete") == cls.discrete_code == issubclass(cls, VQVAE)
    assert cls.own_code_prior == issubclass(cls, VQVAE)
    assert cls.affine_decoder == issubclass(cls, LinearAE)


def test_label_conditional_is_a_label_condition_only():
    cvae = build_model("cvae", {"latent_dim": 2, "hidden": [8]}, (1, 8, 8), 10)
    assert cvae.conditional and cvae.label_conditional
    silhouette = build_model(
        "cvae", {"latent_dim": 2, "hidden": [8], "condition_kind": "silhouette"}, (1, 8, 8), None
    )
    assert silhouette.conditional and not silhouette.label_conditional
    assert not build_model("vae", {"latent_dim": 2}, (1, 8, 8)).label_conditional
    vq = build_model("vq-vae", {}, (1, 16, 16))
    assert vq.num_codes is not None and vq.num_codes > 1
