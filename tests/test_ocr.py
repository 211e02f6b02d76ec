"""OCR as a measure: tesseract reads a rendered page; the character error rate."""

from __future__ import annotations

import numpy as np
import pytest

from aekit.data.page_damage import DamageConfig, damage_page
from aekit.data.synthetic_documents import render_page
from aekit.ocr import character_error_rate, normalise, read_text, tesseract_missing


def test_character_error_rate_is_levenshtein_over_the_reference_length():
    assert character_error_rate("the cat", "the cat") == 0.0
    assert character_error_rate("the cot", "the cat") == pytest.approx(1 / 7)
    assert character_error_rate("th cat", "the cat") == pytest.approx(1 / 7)
    # line breaks and runs of spaces are layout
    assert character_error_rate("the\n  cat\n", "the cat") == 0.0
    assert character_error_rate("", "abcd") == 1.0
    assert character_error_rate("", "") == 0.0 and character_error_rate("x", "") == 1.0
    assert normalise(" a \t b\n\nc ") == "a b c"


@pytest.mark.skipif(tesseract_missing() is not None, reason="tesseract is not installed")
def test_tesseract_reads_a_clean_page_and_much_less_of_a_ruined_one():
    rng = np.random.default_rng(4)
    clean, truth = render_page((1240, 700), rng, dpi=150)  # a strip of an A4 page at 150 dpi
    heavy = DamageConfig(
        stains=1.0, max_stains=6, dark_areas=0.8, fade=0.9, speckle=0.4, salt_pepper=0.15, blur=1.5
    )
    ruined = damage_page(clean, heavy, rng, scale=2.0)
    read_clean = character_error_rate(read_text(clean, 150), truth)
    read_ruined = character_error_rate(read_text(ruined, 150), truth)
    assert read_clean < 0.05, read_clean
    assert read_ruined > read_clean + 0.1, (read_ruined, read_clean)
