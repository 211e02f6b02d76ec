"""``aekit serve``: a local web page to explore a trained model's latent space.

One page (``static/index.html``): a 2-D pad and per-dimension sliders that decode live, random
samples, interpolation between two test or uploaded images, class-conditional generation, and
the document cleaner for document models. A model whose codes are codebook indices (vq-vae) gets
no pad, sliders or interpolation (no point between two index maps is a code): it samples and
reconstructs. Bound to 127.0.0.1 unless told otherwise: the server is meant for one person on
their own machine, not for the internet.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flask import Flask

from aekit.errors import AekitError
from aekit.export import load_test_images
from aekit.run import Run
from aekit.serve.app import build_app
from aekit.serve.explorer import DOCUMENT_DATASETS, Explorer

__all__ = ["Explorer", "build_app", "create_app", "serve"]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def create_app(run_dir: Path) -> Flask:
    """The explorer app for a run folder; test images come from the run's dataset when it is here,
    and the priors fitted beside the model (``aekit fit-prior``) are loaded once, here, to sample
    from."""
    run = Run(run_dir, "cpu")  # it says plainly when run_dir is not a run folder
    model = run.model
    document = run.dataset in DOCUMENT_DATASETS
    test = None if document else load_test_images(run)
    priors = {}
    for name in run.prior_names():
        try:
            priors[name] = run.prior(name)
        # a stale or broken prior must not keep the model from being explored
        except AekitError as exc:
            print(f"warning: prior '{name}' is not offered: {exc}", file=sys.stderr)
    explorer = Explorer(
        model,
        class_names=run.class_names,
        test_images=None if test is None else test.images,
        test_labels=None if test is None else test.labels,
        document=document,
        title=f"{run.model_name} on {run.dataset} ({run.dir.name})",
        priors=priors,
        test_conditions=None if test is None else test.conditions,
    )
    return build_app(explorer)


def serve(run_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the explorer until Ctrl+C."""
    from werkzeug.serving import make_server

    app = create_app(run_dir)
    try:
        server = make_server(host, port, app, threaded=True)
    except SystemExit:  # werkzeug exits (after printing why) when the port is taken
        raise AekitError(
            f"cannot listen on {host}:{port} (in use by another program); choose another --port"
        ) from None
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AekitError(
            f"cannot listen on {host}:{port} ({reason}); choose another --port"
        ) from None
    if host not in LOOPBACK:
        print(
            f"warning: listening on {host}: anyone who can reach this machine can use the explorer"
        )
    print(
        f"aekit explorer for {run_dir}: http://{host}:{server.port}/  (Ctrl+C to stop)", flush=True
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
