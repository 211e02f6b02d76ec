"""The suite's real-data guard: a skipped ``real_data`` test fails the run when AEKIT_DATA
exists."""

from __future__ import annotations

from pathlib import Path

import pytest

SUITE = """
import pytest

@pytest.mark.real_data
def test_looks_in_the_wrong_place():
    pytest.skip("no real MNIST here")

@pytest.mark.real_data
@pytest.mark.skipif(True, reason="marker skip")
def test_skipped_by_a_marker():
    pass

@pytest.mark.real_data
def test_reads_the_data():
    pass

def test_plain_skip():
    pytest.skip("needs chromium")

@pytest.mark.real_data
@pytest.mark.xfail(reason="known", run=False)
def test_expected_failure():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_real_data_skips_fail_when_the_data_is_there(
    suite: pytest.Pytester, tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "mnist").mkdir()
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path))
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    # a marker skips at setup
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [f"*real-data test skipped although AEKIT_DATA={tmp_path} exists: *no real MNIST here*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_real_data_skips_fail_in_xdist_workers_too(
    suite: pytest.Pytester, tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "mnist").mkdir()
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path))
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    # a marker skips at setup
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)


@pytest.mark.parametrize("data", ["unset", "empty"])
def test_real_data_skips_stay_skips_without_the_data(
    suite: pytest.Pytester, tmp_path: Path, monkeypatch, data
) -> None:
    if data == "unset":
        monkeypatch.delenv("AEKIT_DATA", raising=False)
    else:
        (tmp_path / "data").mkdir()
        monkeypatch.setenv("AEKIT_DATA", str(tmp_path / "data"))
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
