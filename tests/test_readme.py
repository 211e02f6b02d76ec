"""Runs the README's code blocks, so the README can never drift from the code.

Every ```python block runs (in order, in one fresh interpreter, in a scratch folder), and every
line of a ```console block that starts with ``$ aekit`` runs through the CLI and must exit 0.
Blocks fenced as ```bash are set-up commands (``make``), which CI itself runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text(encoding="utf-8")) if lang == language]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["AEKIT_CACHE"] = env.get("AEKIT_CACHE") or str(tmp_path / "cache")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _scratch(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    return work


def test_readme_has_python_and_console_blocks():
    assert _blocks("python"), "README has no python example"
    assert _blocks("console"), "README has no CLI example"


def test_readme_python_blocks_run(tmp_path):
    code = "\n\n".join(_blocks("python"))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=_scratch(tmp_path), env=_env(tmp_path),
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _console_commands() -> list[str]:
    lines = [line.strip() for block in _blocks("console") for line in block.splitlines()]
    return [line[2:] for line in lines if line.startswith("$ aekit ")]


def test_readme_console_commands_run(tmp_path):
    """The CLI examples run in order in one folder (later ones use the runs earlier ones made)."""
    commands = _console_commands()
    assert commands, "README has no `$ aekit` command"
    work, env = _scratch(tmp_path), _env(tmp_path)
    aekit = Path(sys.executable).with_name("aekit")
    for command in commands:
        argv = shlex.split(command)
        result = subprocess.run(
            [str(aekit), *argv[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
