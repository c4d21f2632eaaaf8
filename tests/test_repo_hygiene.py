"""Project rules that code review would otherwise have to catch."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import REPO


def test_qt_is_imported_only_in_the_gui_package():
    offenders = []
    for path in (REPO / "photofind").rglob("*.py"):
        if "gui" in path.relative_to(REPO / "photofind").parts:
            continue
        if re.search(r"^\s*(from|import)\s+(PySide6|PyQt\d|shiboken6)", path.read_text(), re.M):
            offenders.append(str(path))
    assert offenders == []


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff comes with the test extra")
def test_ruff_clean():
    done = subprocess.run(["ruff", "check", str(REPO)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
