"""The Flask routes of the latent explorer: validate every request, then ask the :class:`Explorer`.

Everything a request carries is untrusted: JSON bodies are checked field by field (types, lengths,
finite and bounded numbers), uploads by size, declared type, real format and pixel count before
decoding, and no route takes a file path from the request. Errors are JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from flask import Flask, Response, jsonify, request, send_from_directory
from PIL import Image, UnidentifiedImageError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException

from aekit.data.floorplan_files import plan_png
from aekit.errors import AekitError
from aekit.images import decode_pil
from aekit.serve.explorer import Explorer, grid, image_to_tensor, to_png

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # the whole request, uploads included
MAX_PIXELS = 4_000_000  # per uploaded image, checked from the header before decoding
ALLOWED_FORMATS = {"PNG", "JPEG", "GIF", "BMP", "WEBP"}
LATENT_LIMIT = 1000.0  # codes beyond this are surely a mistake (and could overflow the decoder)
MAX_SAMPLES, MAX_STEPS = 64, 16
STATIC = Path(__file__).parent / "static"


class BadRequest(Exception):
    """A request the explorer refuses; the message goes back to the page as JSON."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def build_app(explorer: Explorer) -> Flask:
    """The Flask app for ``explorer`` (``create_app(run_dir)`` builds the explorer from a run)."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.errorhandler(BadRequest)
    def _refused(exc: BadRequest) -> tuple[Response, int]:
        return jsonify(error=str(exc)), exc.status

    @app.errorhandler(AekitError)
    def _unusable(exc: AekitError) -> tuple[Response, int]:
        return jsonify(error=str(exc)), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        messages = {413: f"request too large: the limit is {MAX_REQUEST_BYTES // (1024 * 1024)} MB"}
        return jsonify(
            error=messages.get(exc.code or 500, exc.description or exc.name)
        ), exc.code or 500

    @app.get("/")
    def index() -> Response:
        return send_from_directory(STATIC, "index.html")

    @app.get("/static/<name>")
    def static_file(name: str) -> Response:
        if name not in {"app.js", "style.css"}:
            raise BadRequest("no such file", 404)
        return send_from_directory(STATIC, name)

    @app.get("/api/info")
    def info() -> Response:
        return jsonify(explorer.info())

    @app.post("/api/decode")
    def decode() -> Response:
        if explorer.document:
            raise BadRequest(
                "this is a document cleaner; its codes are feature maps, not points to decode"
            )
        if explorer.discrete_code:
            raise BadRequest(
                "this model's codes are codebook indices: maps of integers, not points to decode; "
                "draw samples or reconstruct images instead"
            )
        body = _json_body()
        z = _latent(body.get("z"), explorer.latent_dim)
        return _png(explorer.decode(z, _condition_choice(body.get("condition"), explorer)))

    @app.post("/api/sample")
    def sample() -> Response:
        if explorer.document:
            raise BadRequest("this is a document cleaner; random samples need an image model")
        body = _json_body()
        n = _integer(body.get("n", 16), "n", 1, MAX_SAMPLES)
        seed = _integer(body.get("seed", 0), "seed", 0, 2**31 - 1)
        condition = _condition_choice(body.get("condition"), explorer)
        prior = _prior_choice(body.get("prior"), explorer)
        prior_class = _prior_class(body.get("class"), prior, explorer)
        return _png(grid(explorer.sample(n, seed, condition, prior, prior_class)))

    @app.get("/api/test-image/<int:index>")
    def test_image(index: int) -> Response:
        return _png(explorer.test_image(_test_index(index, explorer)))

    @app.post("/api/interpolate")
    def interpolate() -> Response:
        if explorer.document:
            raise BadRequest("this is a document cleaner; interpolation needs an image model")
        # a blend of two index maps is neither image's code nor between them
        if explorer.discrete_code:
            raise BadRequest(
                "this model's codes are codebook indices: there is no straight line between two "
                "index maps; reconstruct the two images instead (/api/reconstruct)"
            )
        steps = _integer(_form_int(request.form.get("steps", "8"), "steps"), "steps", 2, MAX_STEPS)
        ends, labels = _images_a_b(explorer)
        return _png(
            grid(
                explorer.interpolate(ends[0], ends[1], steps, (labels[0], labels[1])), columns=steps
            )
        )

    @app.post("/api/reconstruct")
    def reconstruct() -> Response:
        if explorer.document:
            raise BadRequest("this is a document cleaner; clean a page instead (/api/clean)")
        ends, labels = _images_a_b(explorer)
        return _png(grid(explorer.reconstruct(torch.stack(ends), labels), columns=2))

    @app.post("/api/plans")
    def plans() -> Response:
        """Plans for a test footprint (form field 'footprint_index') or an uploaded drawing
        ('footprint'); what the reading of a drawing decided (no entrance marked, ...) comes back in
        ``X-Aekit-Notes``."""
        if not explorer.draws_plans:
            raise BadRequest("this model does not draw floor plans")
        n = _integer(_form_int(request.form.get("n", "8"), "n"), "n", 1, MAX_SAMPLES)
        seed = _integer(_form_int(request.form.get("seed", "0"), "seed"), "seed", 0, 2**31 - 1)
        upload = request.files.get("footprint")
        notes: list[str] = []
        if upload is not None and upload.filename:
            drawn = explorer.uploaded_footprint(decode_pil(_read_image(upload, "footprint")))
            footprint, notes = drawn.footprint, drawn.notes
        elif explorer.test_conditions is not None:
            count = len(explorer.test_conditions)
            index = _integer(
                _form_int(request.form.get("footprint_index", "0"), "footprint_index"),
                "footprint_index",
                0,
                count - 1,
            )
            footprint = explorer.test_conditions[index].numpy()
        else:
            raise BadRequest(
                "no test footprints here: upload a footprint drawing in the field 'footprint'"
            )
        return Response(
            plan_png(explorer.plans(footprint, n, seed)),
            mimetype="image/png",
            headers={"Cache-Control": "no-store", "X-Aekit-Notes": " | ".join(notes)},
        )

    @app.post("/api/clean")
    def clean() -> Response:
        if not explorer.document:
            raise BadRequest("this model is not a document cleaner")
        upload = request.files.get("page")
        if upload is None or not upload.filename:
            raise BadRequest("upload a page image in the field 'page'")
        page = image_to_tensor(_read_image(upload, "page"), 1, None)
        return _png(explorer.clean(page))

    return app


# --- validation ------------------------------------------------------------------------
def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object (Content-Type: application/json)")
    return body


def _latent(value: Any, dim: int) -> list[float]:
    if not isinstance(value, list):
        raise BadRequest(f"'z' must be a list of {dim} numbers")
    if len(value) != dim:
        raise BadRequest(f"'z' has {len(value)} numbers; this model's latent space has {dim}")
    for k, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadRequest(f"'z[{k}]' must be a number, got {type(v).__name__}")
        if not math.isfinite(v):
            raise BadRequest(f"'z[{k}]' must be finite, got {v}")
        if abs(v) > LATENT_LIMIT:
            raise BadRequest(f"'z[{k}]' = {v} is out of range (|z| <= {LATENT_LIMIT:g})")
    return [float(v) for v in value]


def _integer(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadRequest(f"'{name}' must be an integer from {lo} to {hi}, got {value!r}"[:200])
    return value


def _form_int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer, got {text[:40]!r}") from None


def _condition_choice(value: Any, explorer: Explorer) -> int | None:
    """The class (or test image whose condition image is used) for a conditional model; None
    otherwise."""
    if explorer.condition_kind is None:
        return None
    if explorer.num_conditions == 0:
        raise BadRequest(
            f"this model is conditioned on a {explorer.condition_kind} image, and no test "
            "images are available here"
        )
    return _integer(0 if value is None else value, "condition", 0, explorer.num_conditions - 1)


def _prior_choice(value: Any, explorer: Explorer) -> str | None:
    """A learned prior fitted in the run folder, by name; None (or absent) for the model's own."""
    if value is None or (isinstance(value, str) and value in explorer.priors):
        return value
    offered = ", ".join(repr(name) for name in explorer.priors) or "none fitted (aekit fit-prior)"
    raise BadRequest(
        f"unknown prior {str(value)[:40]!r}; this run's priors: {offered}, "
        f"or null for {explorer.default_prior()}"
    )


def _prior_class(value: Any, prior: str | None, explorer: Explorer) -> int | None:
    """The class a per-class prior draws; None: every class. A label-conditional model's class is
    its condition."""
    if value is None:
        return None
    classes = None if prior is None else explorer.prior_classes(prior)
    if classes is None:
        raise BadRequest(
            "'class' chooses the class of a per-class prior; "
            + (
                f"prior {prior!r} was fitted without labels"
                if prior
                else "no learned prior was chosen"
            )
        )
    if explorer.model.label_conditional:
        raise BadRequest("this model is conditioned on a class: choose it with 'condition'")
    return _integer(value, "class", 0, len(classes) - 1)


def _images_a_b(explorer: Explorer) -> tuple[list[torch.Tensor], list[int | None]]:
    """Images A and B of a form (each an upload or the number of a test image) and their classes: a
    test image's own, an upload's the chosen 'condition' (an image condition comes from the image
    itself)."""
    chosen = None
    if explorer.model.label_conditional:
        text = request.form.get("condition") or "0"
        chosen = _condition_choice(_form_int(text, "condition"), explorer)
    images, labels = [], []
    for side in ("a", "b"):
        upload = request.files.get(f"{side}_file")
        if upload is not None and upload.filename:
            c, h, w = explorer.model.input_shape
            images.append(image_to_tensor(_read_image(upload, f"image {side.upper()}"), c, (h, w)))
            labels.append(chosen)
        elif request.form.get(f"{side}_index"):
            index = _test_index(_form_int(request.form[f"{side}_index"], f"{side}_index"), explorer)
            images.append(explorer.test_image(index))
            labels.append(explorer.test_label(index))
        else:
            raise BadRequest(
                f"image {side.upper()}: upload a file or give the number of a test image"
            )
    return images, labels


def _test_index(index: int, explorer: Explorer) -> int:
    count = 0 if explorer.test_images is None else len(explorer.test_images)
    if count == 0:
        raise BadRequest("no test images are available for this run's dataset here", 404)
    if not 0 <= index < count:
        raise BadRequest(f"test image {index} does not exist (there are {count})", 404)
    return index


def _read_image(upload: FileStorage, what: str) -> Image.Image:
    """Decode an upload after checking its declared type, real format and pixel count."""
    if not (upload.mimetype or "").startswith("image/"):
        raise BadRequest(
            f"{what}: expected an image (PNG, JPEG, GIF, BMP or WebP), got "
            f"{upload.mimetype or 'no type'}"
        )
    data = upload.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ALLOWED_FORMATS:
                raise BadRequest(
                    f"{what}: {image.format} images are not accepted; use PNG, JPEG, GIF, BMP "
                    "or WebP"
                )
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise BadRequest(
                    f"{what}: {width}x{height} pixels is too many (limit {MAX_PIXELS:,} pixels)",
                    413,
                )
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadRequest(f"{what}: too many pixels (limit {MAX_PIXELS:,})", 413) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise BadRequest(f"{what}: not a readable image file") from None
    return image


def _png(image: Any) -> Response:
    return Response(to_png(image), mimetype="image/png", headers={"Cache-Control": "no-store"})
