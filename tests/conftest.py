from __future__ import annotations

import atexit
import csv
import functools
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tinymodel import write_tiny_model

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Reading text in photos costs ~0.1 s a photo: off for every library and subprocess of the
# suite except in tests/test_ocr.py, which turns it on where it is the subject.
os.environ["PHOTOFIND_READ_TEXT"] = "0"
# int8 image graphs are on where the CPU has int8 dot products: the same float32 vectors on
# every machine for the suite, int8 where tests/test_quantize.py makes it the subject.
os.environ["PHOTOFIND_INT8"] = "0"
# One ONNX export per tiny model per test run, shared by every library and subprocess
# (tests of the cache itself pass their own folder).
_ONNX_CACHE = tempfile.mkdtemp(prefix="photofind-onnx-")
os.environ.setdefault("PHOTOFIND_ONNX_CACHE", _ONNX_CACHE)
atexit.register(shutil.rmtree, _ONNX_CACHE, True)
# Tests press Ctrl+C as a person would (SIGINT to this process). A shell without job control
# starts a background command (`pytest &` in a script) with SIGINT ignored, and Python then
# leaves it ignored: the watch tests waited for a Ctrl+C that never came until the 600 s
# timeout, and the Ctrl+C test failed. The suite restores what a terminal would give it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]

# --- the team's shared test data --------------------------------------------------------------
# Real photos and captions live beside the checkout in ../shared/data (read-only, not in git;
# PHOTOFIND_SHARED_DATA points elsewhere, as for benchmarks/bench_model/paths.py). A public
# clone has none: every test that needs a data set asks for it through shared_data() or the
# `shared` marker, and skips with one reason naming it. PHOTOFIND_REQUIRE_SHARED=1 (set by
# .ci/run) turns those skips into failures, so CI can never pass by skipping.
_DEFAULT_SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_DATA = Path(os.environ.get("PHOTOFIND_SHARED_DATA", _DEFAULT_SHARED_DATA))
SHARED_SETS = ("flickr8k", "flowers", "exif-samples")  # what the tests read
REQUIRE_SHARED = os.environ.get("PHOTOFIND_REQUIRE_SHARED", "").strip() not in ("", "0")
FLICKR = SHARED_DATA / "flickr8k"  # a path only: use shared_data("flickr8k") to require it


def missing_shared_reason(name: str) -> str:
    where = f"../shared/data/{name}" if SHARED_DATA == _DEFAULT_SHARED_DATA \
        else str(SHARED_DATA / name)
    return f"needs {where} (the team's test data; see README 'Tests without ../shared')"


def shared_data(name: str) -> Path:
    """The folder of a shared data set (flickr8k, flowers, exif-samples...). Missing, the calling
    test or fixture skips, or fails when PHOTOFIND_REQUIRE_SHARED=1."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        reason = missing_shared_reason(name)
        if REQUIRE_SHARED:
            pytest.fail(f"{reason}; PHOTOFIND_REQUIRE_SHARED=1 forbids skipping", pytrace=False)
        pytest.skip(reason)
    return folder


def needs_shared(*names: str) -> pytest.MarkDecorator:
    """Mark a test (or `pytestmark` a module) as needing these shared data sets: checked
    before any fixture is built, with shared_data()'s skip or failure."""
    return pytest.mark.shared(*names)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "shared(*names): needs these ../shared/data sets; skips without them "
        "(fails with PHOTOFIND_REQUIRE_SHARED=1)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for mark in item.iter_markers("shared"):
        for name in mark.args:
            shared_data(name)


def pytest_report_header(config):
    missing = [name for name in SHARED_SETS if not (SHARED_DATA / name).is_dir()]
    if not missing:
        return f"shared test data: {SHARED_DATA} (all found)"
    then = "fail (PHOTOFIND_REQUIRE_SHARED=1)" if REQUIRE_SHARED else "skip"
    return f"shared test data: {', '.join(missing)} missing in {SHARED_DATA}: tests needing it {then}"


def flickr_photos(count: int, start: int = 0) -> list[Path]:
    """Real Flickr8k photos (shared data), in a fixed order."""
    return sorted((shared_data("flickr8k") / "images").glob("*.jpg"))[start:start + count]


@functools.cache
def flickr_captions() -> dict[str, list[str]]:
    """Photo file name -> its five Flickr8k captions (shared data)."""
    captions: dict[str, list[str]] = {}
    with open(shared_data("flickr8k") / "captions.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            captions.setdefault(row["image"], []).append(row["caption"])
    return captions


def copy_photos(dest: Path, count: int, start: int = 0) -> list[Path]:
    """Copies of real Flickr8k photos (shared data): for tests about real photos or their
    captions. Tests that only need some JPEGs use make_photos()."""
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(p, dest / p.name)) for p in flickr_photos(count, start)]


def write_photo(path: Path, index: int, size: tuple[int, int] = (500, 375)) -> Path:
    """A generated JPEG, the same for the same index and distinct from every other index:
    a smooth colour field with a few shapes and some grain (Flickr8k's usual 500×375)."""
    rng = np.random.default_rng(index)
    coarse = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 8))):
        x, y = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        w, h = int(rng.integers(30, size[0] // 2)), int(rng.integers(30, size[1] // 2))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x, y, x + w, y + h], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    grain = rng.integers(0, 256, (size[1] // 4, size[0] // 4, 3), dtype=np.uint8)
    Image.blend(image, Image.fromarray(grain).resize(size), 0.15).save(path, "JPEG", quality=90)
    return path


SIGN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def font(size: int):
    return ImageFont.truetype(str(SIGN_FONT), size) if SIGN_FONT.exists() else \
        ImageFont.load_default(size)


def write_sign(path: Path, words: str, index: int = 0, size: int = 40, mode: str = "RGB",
               orientation: int | None = None) -> Path:
    """A generated photo with ``words`` on a light board, like a shop sign."""
    write_photo(path, index)
    image = Image.open(path).convert("RGB")
    draw = ImageDraw.Draw(image)
    box = draw.textbbox((40, 120), words, font=font(size))
    draw.rectangle((box[0] - 12, box[1] - 10, box[2] + 12, box[3] + 10), fill=(245, 240, 225))
    draw.text((40, 120), words, font=font(size), fill=(20, 20, 30))
    exif = Image.Exif()
    if orientation == 6:  # stored turned a quarter left; the camera says "turn right to view"
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif[0x0112] = 6
    if mode == "CMYK":
        image = image.convert("CMYK")
    image.save(path, "JPEG", quality=92, exif=exif)
    return path


def make_photos(dest: Path, count: int, start: int = 0) -> list[Path]:
    """`count` generated JPEGs in dest (photo-0000.jpg...), like copy_photos() without the
    shared data: the same `start` gives the same photos, different ranges different ones."""
    dest.mkdir(parents=True, exist_ok=True)
    return [write_photo(dest / f"photo-{i:04d}.jpg", i) for i in range(start, start + count)]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """(config, weights) of a tiny random ViT open_clip model, built once per run."""
    from photofind.embed.model import ModelSpec

    config, weights = write_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    return ModelSpec(name="tiny-vit", pretrained=str(weights), config=str(config))


@pytest.fixture
def library(tmp_path, tiny_model):
    from photofind.services.library import PhotoLibrary

    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=1)
    yield lib
    lib.close()


def wait_for(condition, timeout: float = 30.0, what: str = "condition"):
    """Poll ``condition`` until it gives something true (returned), or fail saying what."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def watch_command_while(act, data_dir: Path, model, folder: Path) -> int:
    """Run ``photofind watch FOLDER`` in this process while ``act()`` runs in another
    thread, then press Ctrl+C (SIGINT) as a person would; the command's exit code."""
    from photofind.cli import main

    def person() -> None:
        try:
            act()
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=person, daemon=True).start()
    return main(["--data-dir", str(data_dir), "--model", "tiny", "--model-config",
                 model.config, "--pretrained", model.pretrained, "--workers", "0",
                 "watch", str(folder), "--debounce", "0.3"])
