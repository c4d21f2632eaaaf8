"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and they would catch the
imports they forbid: a copy of the package with deliberate violations breaks each contract."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("lint-imports") is None,
                                reason="lint-imports comes with the test extra (import-linter)")


def lint_imports(root) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package and pyproject.toml under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(["lint-imports", "--no-cache", "--no-logo"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_contract():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout


def test_violations_are_caught(tmp_path):
    shutil.copytree(REPO / "photofind", tmp_path / "photofind",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    violations = {  # module -> an import it must not make
        "library/scan.py": "from photofind.services import indexing",  # upwards
        "cli/parser.py": "from photofind.gui import settings",  # one face into the other
        "search/hybrid.py": "import PySide6",  # Qt outside the GUI
    }
    for module, line in violations.items():
        path = tmp_path / "photofind" / module
        path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    report = done.stdout
    assert "0 kept, 4 broken" in report
    assert "photofind.library.scan -> photofind.services.indexing" in report
    assert "photofind.cli.parser -> photofind.gui.settings" in report
    assert "photofind.search.hybrid -> PySide6" in report
