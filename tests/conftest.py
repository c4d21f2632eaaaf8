from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tinymodel import write_tiny_model

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One ONNX export per tiny model per test run, shared by every library and subprocess
# (tests of the cache itself pass their own folder).
_ONNX_CACHE = tempfile.mkdtemp(prefix="photofind-onnx-")
os.environ.setdefault("PHOTOFIND_ONNX_CACHE", _ONNX_CACHE)
atexit.register(shutil.rmtree, _ONNX_CACHE, True)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FLICKR = SHARED / "data" / "flickr8k"
EXIF_SAMPLES = SHARED / "data" / "exif-samples"


def flickr_photos(count: int) -> list[Path]:
    return sorted((FLICKR / "images").glob("*.jpg"))[:count]


def copy_photos(dest: Path, count: int, start: int = 0) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    photos = sorted((FLICKR / "images").glob("*.jpg"))[start:start + count]
    return [Path(shutil.copy2(p, dest / p.name)) for p in photos]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """(config, weights) of a tiny random ViT open_clip model, built once per run."""
    from photofind.embed.model import ModelSpec

    config, weights = write_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    return ModelSpec(name="tiny-vit", pretrained=str(weights), config=str(config))


@pytest.fixture
def library(tmp_path, tiny_model):
    from photofind.core import PhotoLibrary

    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=1)
    yield lib
    lib.close()
