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

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(language: str) -> list[str]:
    return [
        body for lang, body in FENCE.findall(README.read_text(encoding="utf-8")) if lang == language
    ]


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
        [sys.executable, "-c", code],
        cwd=_scratch(tmp_path),
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _console_commands() -> list[str]:
    lines = [line.strip() for block in _blocks("console") for line in block.splitlines()]
    return [line[2:] for line in lines if line.startswith("$ aekit ")]


def _folders(command: str) -> set[str]:
    """The folders a command reads or writes: ``--out`` values and arguments with a ``/``, named by
    their first part (``cleaned/submission.csv``: ``cleaned``), a run by two (``runs/vae``)."""
    tokens = shlex.split(command)[1:]
    paths = [
        t
        for i, t in enumerate(tokens)
        if not t.startswith("-") and ("/" in t or tokens[i - 1 : i] == ["--out"])
    ]
    return {"/".join(path.split("/")[: 2 if path.startswith("runs/") else 1]) for path in paths}


def _chains() -> list[list[str]]:
    """The README's commands in groups that share no folder, each in the README's order: a group
    runs in a scratch folder of its own, so pytest-xdist can run the groups side by side."""
    chains: list[tuple[set[str], list[str]]] = []
    commands = _console_commands()
    for command in commands:
        folders = _folders(command)
        joined = [chain for chain in chains if chain[0] & folders]
        merged_folders, merged = set(folders), []
        for chain in joined:
            merged_folders |= chain[0]
            merged += chain[1]
            chains.remove(chain)
        chains.append((merged_folders, [c for c in commands if c in {*merged, command}]))
    return [commands for _, commands in chains]


def test_readme_chains_cover_every_command_once_in_order():
    chains = _chains()
    assert sorted(c for chain in chains for c in chain) == sorted(_console_commands())
    order = _console_commands()
    assert all(chain == sorted(chain, key=order.index) for chain in chains)
    vae = next(chain for chain in chains if any("runs/vae" in c for c in chain))
    assert vae[0].startswith("aekit train") and any(
        c.startswith("aekit export runs/vae") for c in vae
    )


def _chain_id(chain: list[str]) -> str:
    """The folder the chain's first command writes (``runs/vae``), else its command
    (``datasets``)."""
    tokens = shlex.split(chain[0])
    return tokens[tokens.index("--out") + 1] if "--out" in tokens else tokens[1]


@pytest.mark.parametrize("chain", _chains(), ids=_chain_id)
def test_readme_console_commands_run(tmp_path, chain):
    """The CLI examples run in order in one folder (later ones use the runs earlier ones made)."""
    work, env = _scratch(tmp_path), _env(tmp_path)
    aekit = Path(sys.executable).with_name("aekit")
    for command in chain:
        argv = shlex.split(command)
        result = subprocess.run(
            [str(aekit), *argv[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
