"""The desktop packaging without building it: the PyInstaller spec, the Linux desktop
integration files, and the ``--self-test`` smoke check that every built bundle runs."""

from __future__ import annotations

import ast
import configparser
import json
import os
import subprocess
import sys
import tomllib

import pytest
from defusedxml import ElementTree

from conftest import REPO

PACKAGING = REPO / "packaging"
RESOURCES = REPO / "resources"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def spec_assignments() -> dict[str, ast.AST]:
    tree = ast.parse((PACKAGING / "photofind.spec").read_text(), "photofind.spec")
    return {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def test_spec_compiles_and_names_entry_excludes_and_resources():
    text = (PACKAGING / "photofind.spec").read_text()
    compile(text, "photofind.spec", "exec")
    names = spec_assignments()
    assert "launcher.py" in ast.unparse(names["ENTRY"])
    assert (PACKAGING / "launcher.py").is_file()
    excluded = ast.literal_eval(names["UNUSED_PYTHON"])
    for module in ("tests", "tkinter", "matplotlib", "IPython", "pytest", "triton", "nvidia"):
        assert module in excluded
    qt_modules = ast.literal_eval(names["UNUSED_QT"].generators[0].iter)  # PySide6.{m}
    for qt in ("QtWebEngineCore", "Qt3DCore", "QtQuick", "QtQml", "QtMultimedia"):
        assert qt in qt_modules
    cuda = ast.literal_eval(names["CUDA_LIBRARIES"])
    assert {"libcudnn*", "libcublas*", "libnccl*"} <= set(cuda)
    assert "'photofind/resources'" in ast.unparse(names["RESOURCES"])
    assert "collect_data_files('open_clip')" in ast.unparse(names["DATAS"])
    assert "collect_dynamic_libs('torchvision'" in ast.unparse(names["BINARIES"])
    assert "excludes=UNUSED_QT + UNUSED_PYTHON" in text


def test_every_package_is_listed_and_resources_go_with_them():
    """pyproject.toml lists its packages (so that the top-level resources/ is installed as
    photofind/resources): a new package must be listed, or wheels would lack it."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(init.parent.relative_to(REPO).parts)
               for init in (REPO / "photofind").rglob("__init__.py")}
    assert set(setuptools["packages"]) == on_disk | {"photofind.resources"}
    assert setuptools["package-dir"] == {"photofind.resources": "resources"}
    assert not (REPO / "photofind" / "resources").exists()  # one copy, at the top


def test_desktop_entry():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(RESOURCES / "photofind.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Name"] and section["Exec"].split()[0] == "photofind"
    assert section["Icon"] == "photofind"  # the hicolor icons' name
    assert section["Categories"].endswith(";") and section["Keywords"].endswith(";")
    assert section["Terminal"] == "false"


def test_appstream_metainfo():
    root = ElementTree.parse(RESOURCES / "io.github.photofind.metainfo.xml").getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == "io.github.photofind"
    for tag in ("name", "summary", "metadata_license", "project_license"):
        assert (root.findtext(tag) or "").strip(), tag
    assert root.find("description/p") is not None
    launchable = root.find("launchable")
    assert launchable.get("type") == "desktop-id" and launchable.text == "photofind.desktop"
    assert root.find("content_rating").get("type") == "oars-1.1"


@pytest.mark.parametrize("size", ICON_SIZES)
def test_icons_exist_in_every_size(size):
    from PIL import Image

    path = RESOURCES / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "photofind.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (size, size)
        assert image.mode == "RGBA"  # transparent corners


def qt_platform_available() -> bool:
    try:
        from PySide6.QtCore import QLibraryInfo
    except ImportError:
        return False
    plugins = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)
    folder = os.path.join(plugins, "platforms")
    return os.path.isdir(folder) and any("offscreen" in name for name in os.listdir(folder))


@pytest.mark.skipif(not qt_platform_available(), reason="no Qt offscreen platform plugin")
def test_self_test_from_source(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "photofind", "--self-test"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True
    assert summary["photos"] == summary["text_hits"] == 5
    assert summary["image_top_score"] > 0.99
    assert summary["platform"] == "offscreen" and summary["frozen"] is False


@pytest.mark.skipif(not qt_platform_available(), reason="no Qt offscreen platform plugin")
def test_self_test_fails_loudly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "photofind", "--self-test",
                           str(tmp_path / "missing")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert json.loads(done.stdout.strip().splitlines()[-1])["ok"] is False
    assert "is not a folder" in done.stderr
