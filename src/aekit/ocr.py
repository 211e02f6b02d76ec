"""What OCR reads on a page: the measure a person cleaning scans cares about in the end.

tesseract (Debian's ``tesseract-ocr`` and ``tesseract-ocr-eng``) runs as a program, one page at a
time, ``-l eng --psm 6`` (one block of text) with ``OMP_THREAD_LIMIT=1`` (its OpenMP threads only
wait for each other on pages this small). The character error rate is the Levenshtein distance
to the reference text over the reference's length, after folding runs of white space.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rapidfuzz.distance import Levenshtein

from aekit.errors import AekitError

TIMEOUT_S = 120  # one page; tesseract on an A4 page at 300 dpi takes a few seconds


def tesseract_missing() -> str | None:
    """None when tesseract and its English data are here, else one line saying what is missing."""
    if shutil.which("tesseract") is None:
        return (
            "tesseract is not installed (Debian: apt-get install tesseract-ocr "
            "tesseract-ocr-eng): OCR skipped"
        )
    listed = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, check=False
    )
    if "eng" not in (listed.stdout + listed.stderr).split():
        return (
            "tesseract has no English data (Debian: apt-get install tesseract-ocr-eng): OCR skipped"
        )
    return None


def read_text(page: torch.Tensor | np.ndarray, dpi: int | None = None) -> str:
    """The text tesseract reads on a ``[1 x] H x W`` grey page in [0, 1]."""
    pixels = page.reshape(page.shape[-2:]) if isinstance(page, torch.Tensor) else np.asarray(page)
    array = np.round(np.clip(np.asarray(pixels, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    with tempfile.TemporaryDirectory(prefix="aekit-ocr-") as tmp:
        path = Path(tmp) / "page.png"
        Image.fromarray(array, mode="L").save(path, dpi=(dpi, dpi) if dpi else None)
        command = ["tesseract", str(path), "stdout", "-l", "eng", "--psm", "6"] + (
            ["--dpi", str(dpi)] if dpi else []
        )
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AekitError(f"tesseract failed: {exc}") from None
    if done.returncode != 0:
        raise AekitError(
            f"tesseract failed: "
            f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
        )
    return done.stdout


def normalise(text: str) -> str:
    """Runs of white space folded to one space, ends stripped: line breaks are layout, not text."""
    return re.sub(r"\s+", " ", text).strip()


def character_error_rate(read: str, reference: str) -> float:
    """Levenshtein distance between what was read and the reference, over the reference's length."""
    reference, read = normalise(reference), normalise(read)
    if not reference:
        return float(bool(read))
    return Levenshtein.distance(read, reference) / len(reference)
