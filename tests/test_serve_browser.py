"""The explorer page end to end in headless Chromium (Debian's package; Playwright never downloads
one)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image
from stand_ins import TinyCleaner, TinyConfig, TinyVAE

from aekit.serve import Explorer, build_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip(
        "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs Playwright for Python (pip install playwright)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def serve_explorer() -> Iterator[object]:
    """Start an explorer on a free port of 127.0.0.1 in a thread; yields a function explorer ->
    URL."""
    from werkzeug.serving import make_server

    servers = []

    def start(explorer: Explorer) -> str:
        server = make_server("127.0.0.1", 0, build_app(explorer), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _png(size: tuple[int, int], color: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _wait_for_new_image(page: object, selector: str, previous: str) -> str:
    page.wait_for_function(
        "([sel, prev]) => { const img = document.querySelector(sel); "
        "return img.src.startsWith('data:image/png') && img.src !== prev; }",
        arg=[selector, previous],
        timeout=10_000,
    )
    return page.eval_on_selector(selector, "img => img.src")


def test_pad_decodes_live_and_uploads_interpolate(
    browser: object, serve_explorer: object, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    explorer = Explorer(
        TinyVAE(TinyConfig(latent_dim=3), (1, 12, 12)),
        test_images=torch.rand(6, 1, 12, 12),
        title="tiny-vae on noise",
    )
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(serve_explorer(explorer))
    start = _wait_for_new_image(page, "#decoded", "")
    assert page.locator("#sliders input[type=range]").count() == 3
    assert page.locator("#prior-box").is_hidden()  # no priors fitted: no switch

    pad = page.locator("#pad").bounding_box()
    page.mouse.click(pad["x"] + 0.15 * pad["width"], pad["y"] + 0.2 * pad["height"])
    first = _wait_for_new_image(page, "#decoded", start)
    page.mouse.move(pad["x"] + 0.2 * pad["width"], pad["y"] + 0.2 * pad["height"])
    page.mouse.down()
    page.mouse.move(pad["x"] + 0.85 * pad["width"], pad["y"] + 0.9 * pad["height"], steps=8)
    page.mouse.up()
    second = _wait_for_new_image(page, "#decoded", first)
    assert len({start, first, second}) == 3
    page.wait_for_function("() => document.getElementById('decoded').dataset.z !== undefined")
    z = page.eval_on_selector("#z-text", "el => el.textContent")
    assert (
        z.startswith("z = [") and page.eval_on_selector("#slider-0", "s => Number(s.value)") > 1.5
    )

    page.set_input_files(
        "input[name=a_file]",
        {"name": "black.png", "mimeType": "image/png", "buffer": _png((20, 20), 0)},
    )
    page.set_input_files(
        "input[name=b_file]",
        {"name": "white.png", "mimeType": "image/png", "buffer": _png((20, 20), 255)},
    )
    page.click("#interp-form button[type=submit]")
    _wait_for_new_image(page, "#interpolation", "")
    assert page.eval_on_selector("#interpolation", "img => img.naturalWidth") == 8 * 12 + 7
    page.wait_for_function("() => !document.getElementById('samples').hidden")

    page.set_input_files(
        "input[name=a_file]", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    )
    page.click("#interp-form button[type=submit]")
    page.wait_for_selector("#error:not([hidden])")
    assert "expected an image" in page.inner_text("#error")
    page.set_input_files("input[name=a_file]", [])
    page.click("#interp-form button[type=submit]")
    page.wait_for_selector("#error", state="hidden")

    shot = tmp_path / "explorer.png"
    page.screenshot(path=str(shot), full_page=True)
    assert Image.open(shot).size[0] == 1200
    assert errors == []
    page.close()


def test_the_prior_switch_resamples_and_names_the_prior(
    browser: object, serve_explorer: object
) -> None:
    from aekit.priors import GMMPrior

    torch.manual_seed(0)
    model = TinyVAE(TinyConfig(latent_dim=2), (1, 12, 12))
    labels = torch.arange(60) % 3
    prior = GMMPrior((2,), 3, components=1).fit(torch.randn(60, 2) + 4 * labels[:, None], labels)
    explorer = Explorer(
        model, class_names=["ant", "bee", "cat"], title="tiny-vae", priors={"gmm": prior}
    )
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(serve_explorer(explorer))
    standard = _wait_for_new_image(page, "#samples", "")
    assert page.inner_text("#sample-hint") == "Codes drawn from the prior N(0, I)."
    assert page.eval_on_selector_all("#prior option", "options => options.map(o => o.text)") == [
        "N(0, I)",
        "gmm",
    ]
    assert page.locator("#prior-class-box").is_hidden()

    page.select_option("#prior", "gmm")
    every = _wait_for_new_image(page, "#samples", standard)
    page.wait_for_function(
        "() => document.getElementById('sample-hint').textContent.includes('gmm')"
    )
    assert (
        page.inner_text("#sample-hint")
        == "Codes drawn from the learned prior gmm (aekit fit-prior), every class."
    )
    assert page.eval_on_selector_all(
        "#prior-class option", "options => options.map(o => o.text)"
    ) == ["every class", "ant", "bee", "cat"]
    page.select_option("#prior-class", "1")
    _wait_for_new_image(page, "#samples", every)
    page.wait_for_function(
        "() => document.getElementById('sample-hint').textContent.includes('bee')"
    )
    assert (
        page.inner_text("#sample-hint")
        == "Codes drawn from the learned prior gmm (aekit fit-prior), class bee."
    )
    page.select_option("#prior", "")  # back to N(0, I): the same seed, so the first samples again
    page.wait_for_function(
        "(first) => document.getElementById('samples').src === first", arg=standard, timeout=10_000
    )
    page.wait_for_function(
        "() => document.getElementById('sample-hint').textContent === 'Codes drawn from the "
        "prior N(0, I).'"
    )
    assert page.locator("#prior-class-box").is_hidden()
    assert errors == []
    page.close()


def test_document_page_is_cleaned_in_the_browser(browser: object, serve_explorer: object) -> None:
    torch.manual_seed(0)
    page = browser.new_page()
    page.goto(
        serve_explorer(
            Explorer(
                TinyCleaner(TinyConfig(latent_dim=3), (1, 16, 16)), document=True, title="docs"
            )
        )
    )
    page.wait_for_selector("#clean-form", state="visible")
    assert page.locator("#pad").is_hidden()
    page.set_input_files(
        "#page-file", {"name": "page.png", "mimeType": "image/png", "buffer": _png((120, 90), 180)}
    )
    page.click("#clean-form button[type=submit]")
    _wait_for_new_image(page, "#page-after", "")
    assert page.eval_on_selector("#page-after", "img => [img.naturalWidth, img.naturalHeight]") == [
        120,
        90,
    ]
    page.close()


def test_a_vq_vae_page_has_no_pad_and_reconstructs_instead_of_interpolating(
    browser: object, serve_explorer: object
) -> None:
    from aekit.models.vq_vae import VQVAE, VQVAEConfig

    torch.manual_seed(0)
    model = VQVAE(
        VQVAEConfig(codebook_size=8, code_dim=4, channels=(8, 8), prior_channels=8, prior_layers=1),
        (1, 8, 8),
    ).eval()
    # codes that decode to different images (an untrained codebook is all 0)
    model.quantizer.codebook.normal_(0, 3)
    explorer = Explorer(model, test_images=torch.rand(4, 1, 8, 8), title="tiny vq-vae")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(serve_explorer(explorer))
    _wait_for_new_image(page, "#samples", "")
    assert (
        page.inner_text("#sample-hint")
        == "Codes drawn from the prior PixelCNN trained with the model."
    )
    assert page.locator("#decode-card").is_hidden() and page.locator("#pad").is_hidden()
    assert page.locator("#sliders input").count() == 0 and page.locator("#steps-box").is_hidden()
    assert page.inner_text(
        "#interp-title"
    ) == "Reconstruct" and "codebook indices" in page.inner_text("#interp-hint")
    page.click("#interp-button")
    _wait_for_new_image(page, "#interpolation", "")
    assert page.eval_on_selector("#interpolation", "img => img.naturalWidth") == 2 * 8 + 1
    assert page.locator("#error").is_hidden()
    assert not any(url.endswith(("/api/decode", "/api/interpolate")) for url in requests)
    assert errors == []
    page.close()
