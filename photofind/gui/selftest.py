"""``photofind --self-test [FOLDER]``: prove an install works end to end, without a network,
a screen or the user's library.

It drives the real main window offscreen: a tiny random open_clip model written as a local
checkpoint (config JSON + safetensors, the path a user's own model takes), a few generated
JPEGs (or FOLDER), indexing through the window's backend and decoder processes, a text query
and an image query whose photo must come back first. One JSON line on stdout says what
happened; the exit status is 0 only if every step worked. Packaged builds run it after
building, since a bundle can lack a Qt plugin, a data file or a shared library that only
shows at run time. Nothing is written outside a temporary folder (settings included).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

TIMEOUT_S = float(os.environ.get("PHOTOFIND_SELF_TEST_TIMEOUT", "180"))
TINY_CLIP = {  # ~1.7 M parameters, almost all in the token embedding
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16,
                   "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2,
                 "layers": 2},
}
PHOTOS = 5
TEXT_QUERY = "a red kayak on a lake"


class SelfTestFailed(RuntimeError):
    """A step did not do what it should; the message says which and why."""


def run_self_test(args) -> int:
    """Entry point from the command line: one JSON line, exit 0 on success."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before QApplication exists
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tiny model needs no hub
    started = time.monotonic()
    summary: dict = {"ok": False}
    with tempfile.TemporaryDirectory(prefix="photofind-selftest-") as tmp:
        try:
            summary.update(_run(Path(tmp), getattr(args, "self_test", "") or None))
            summary["ok"] = True
        except Exception as exc:  # noqa: BLE001 - every failure becomes a clear message
            summary["error"] = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, SelfTestFailed):
                traceback.print_exc(file=sys.stderr)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary), flush=True)
    if not summary["ok"]:
        print(f"photofind self-test FAILED: {summary['error']}", file=sys.stderr)
    return 0 if summary["ok"] else 1


def _run(tmp: Path, folder: str | None) -> dict:
    if folder and not Path(folder).is_dir():
        raise SelfTestFailed(f"{folder} is not a folder")
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QSettings, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication, QMessageBox

    from photofind.gui.app import app_icon
    from photofind.gui.settings import Settings

    qInstallMessageHandler(_quiet_offscreen)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    if app_icon().pixmap(64, 64).isNull():  # needs the resources and Qt's SVG plugins
        raise SelfTestFailed("the application icon (photofind.svg) did not render")
    _refuse_dialogs(QMessageBox)
    import torch

    from photofind.gui.window import MainWindow

    # decoder processes, as with an accelerator (on a CPU they are threads): a bundle that
    # cannot spawn them fails here, not on the first GPU that indexes
    os.environ.setdefault("PHOTOFIND_DECODERS", "processes")
    config, weights = write_tiny_checkpoint(tmp / "model")
    photos = Path(folder).resolve() if folder else write_photos(tmp / "photos")
    options = SimpleNamespace(data_dir=str(tmp / "data"), model=None, pretrained=str(weights),
                              model_config=str(config), device="cpu", workers=1)
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings, overrides=options)
    window.show()
    try:
        return {"platform": app.platformName(), "frozen": bool(getattr(sys, "frozen", False)),
                "python": platform.python_version(), "qt": pyside_version,
                "torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
                **_exercise(app, window, photos)}
    finally:
        window.close()  # saves into the temporary settings, stops the worker threads


def _exercise(app, window, photos: Path) -> dict:
    """Index ``photos`` through the window, then search by text and by example."""
    events: dict = {}
    backend = window.backend
    backend.index_finished.connect(lambda report, _t: events.__setitem__("indexed", report))
    backend.index_failed.connect(lambda exc, _t: events.__setitem__("failed", exc))
    backend.search_failed.connect(lambda _s, exc: events.__setitem__("failed", exc))
    window.on_problem = lambda exc: events.__setitem__("failed", exc)  # never a modal dialog

    window.add_paths([str(photos)])
    _wait(app, lambda: "indexed" in events or "failed" in events, "indexing")
    _raise_if_failed(events, "indexing")
    indexed = backend.lib.catalog.counts()["photos"]
    if indexed == 0:
        raise SelfTestFailed(f"nothing was indexed in {photos}: {events['indexed'].summary()}")

    window.search.setText(TEXT_QUERY)
    text_hits = _search(app, window, events, "text query")
    if not text_hits:
        raise SelfTestFailed(f"the text query {TEXT_QUERY!r} found nothing in {indexed} photos")
    if window.model.rowCount() != len(text_hits):
        raise SelfTestFailed(f"the grid shows {window.model.rowCount()} of {len(text_hits)} "
                             "results")

    example = text_hits[-1]  # the worst text match: coming first by example means something
    window.find_similar(example)
    image_hits = _search(app, window, events, "image query")
    if not image_hits or image_hits[0].photo.path != example.photo.path:
        first = image_hits[0].photo.path if image_hits else "nothing"
        raise SelfTestFailed(f"searching by {example.photo.path} found {first} first")
    return {"photos": indexed, "text_hits": len(text_hits), "image_query": Path(
        example.photo.path).name, "image_top_score": round(image_hits[0].score, 4)}


def _search(app, window, events: dict, what: str) -> list:
    answers: dict = {}

    def answered(serial: int, hits: list) -> None:
        answers[serial] = hits

    window.backend.answered.connect(answered)
    try:
        window.run_search()
        serial = window.pending
        _wait(app, lambda: serial in answers or "failed" in events, what)
    finally:
        window.backend.answered.disconnect(answered)
    _raise_if_failed(events, what)
    return answers[serial]


def _wait(app, done, what: str) -> None:
    """Run the event loop until ``done()`` or the deadline."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            raise SelfTestFailed(f"{what} did not finish within {TIMEOUT_S:.0f} s")
        loop = QEventLoop()
        QTimer.singleShot(20, loop.quit)
        loop.exec()


def _raise_if_failed(events: dict, what: str) -> None:
    if "failed" in events:
        exc = events.pop("failed")
        raise SelfTestFailed(f"{what} failed: {type(exc).__name__}: {exc}") from exc


def _quiet_offscreen(_kind, _context, message: str) -> None:
    """Qt's messages to stderr, less the offscreen platform's notes on window hints."""
    if "does not support propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def _refuse_dialogs(message_box) -> None:
    """A modal box would wait forever offscreen: make any of them fail the test instead."""
    def refuse(_parent, title, text, *_args, **_kwargs):
        raise SelfTestFailed(f"the app asked the user: {title}: {text}")

    for name in ("critical", "warning", "question", "information"):
        setattr(message_box, name, staticmethod(refuse))


def write_tiny_checkpoint(folder: Path) -> tuple[Path, Path]:
    """A random tiny open_clip model as a user's local checkpoint: (config, weights)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from photofind.embed.model import register_custom_config

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "selftest-tiny-clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    name, _, _ = register_custom_config(config)
    torch.manual_seed(0)
    logging.disable(logging.WARNING)  # "no pretrained weights loaded": random is the point
    try:
        model = open_clip.create_model(name, pretrained_text=False)
    finally:
        logging.disable(logging.NOTSET)
    weights = folder / "selftest-tiny-clip.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return config, weights


def write_photos(folder: Path, count: int = PHOTOS) -> Path:
    """``count`` clearly different JPEGs: a colour field, a shape and seeded noise each."""
    import numpy as np
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    colours = [(200, 40, 40), (40, 160, 60), (40, 70, 200), (230, 200, 40), (120, 40, 160),
               (30, 30, 30), (240, 240, 240), (0, 160, 160)]
    for i in range(count):
        rng = np.random.default_rng(i)
        noise = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        image = Image.blend(Image.new("RGB", (128, 96), colours[i % len(colours)]),
                            Image.fromarray(noise), 0.25 + 0.1 * i)
        draw = ImageDraw.Draw(image)
        box = (10 + 12 * i, 10 + 6 * i, 60 + 12 * i, 60 + 6 * i)
        (draw.ellipse if i % 2 else draw.rectangle)(box, fill=colours[(i + 3) % len(colours)])
        image.save(folder / f"selftest-{i + 1}.jpg", quality=90)
    return folder
