""""Adapt to my library": teach the model the person's own captions and tags.

The training itself lives in the core (``photofind.adapt``); this dialog only finds it, runs
it in a ``QThread`` and shows progress (loss, ETA), the before/after numbers and whether the
result was kept. Hooks it looks for, first name found wins (see ``HOOKS``):

- ``usable_photos(lib)`` → int, or a mapping/object of counts (e.g. captioned, tagged)
- ``adapt(lib, progress=cb, cancel=CancelToken)`` → result with ``before``, ``after``
  (numbers or mappings of numbers) and ``kept``; ``cb(done, total, loss)`` or ``cb(obj)``
- ``reset(lib)`` → back to the zero-shot model
"""

from __future__ import annotations

import importlib
import time

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from photofind.core import CancelToken
from photofind.gui.tasks import run_task

HOOKS = {"usable": ("usable_photos", "count_usable", "usable"),
         "run": ("adapt", "adapt_library", "run"),
         "reset": ("reset", "zero_shot", "revert")}
UNAVAILABLE_TIP = "Needs photofind's adaptation module, which this version does not include."


class AdaptHooks:
    def __init__(self, usable, run, reset):
        self.usable, self.run, self.reset = usable, run, reset

    @classmethod
    def detect(cls) -> AdaptHooks | None:
        """The core's adaptation hooks, or None while ``photofind.adapt`` (or one of its
        hooks) is absent."""
        try:
            module = importlib.import_module("photofind.adapt")
        except ImportError:
            return None
        found = [next((getattr(module, name) for name in names
                       if callable(getattr(module, name, None))), None)
                 for names in HOOKS.values()]
        return cls(*found) if all(found) else None


class AdaptWorker(QObject):
    progress = Signal(int, int, object)  # done, total, loss (or None)
    finished = Signal(object)  # result
    failed = Signal(object)

    def __init__(self, hooks: AdaptHooks, lib):
        super().__init__()
        self.hooks, self.lib, self.token = hooks, lib, CancelToken()

    @Slot()
    def run(self) -> None:
        try:
            result = self.hooks.run(self.lib, progress=self._progress, cancel=self.token)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog
            self.failed.emit(exc)
        else:
            self.finished.emit(result)

    def _progress(self, *args, **kwargs) -> None:
        if len(args) == 1 and not kwargs:
            item = args[0]
            kwargs = item if isinstance(item, dict) else vars(item)
            args = ()
        done, total, loss = (*args, None, None, None)[:3]
        done = kwargs.get("done", kwargs.get("step", done)) or 0
        total = kwargs.get("total", kwargs.get("steps", total)) or 0
        self.progress.emit(int(done), int(total), kwargs.get("loss", loss))


class AdaptDialog(QDialog):
    """Counts usable photos, runs adaptation with progress and cancel, reports the outcome."""

    model_changed = Signal()

    def __init__(self, hooks: AdaptHooks, backend, parent=None):
        super().__init__(parent)
        self.hooks, self.backend = hooks, backend
        self.setWindowTitle("Adapt to my library")
        self.state = "ready"  # running, done, cancelled, failed
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetFixedSize)  # grows with its texts
        self.intro = QLabel("Counting photos with your captions and tags…", wordWrap=True)
        self.bar = QProgressBar()
        self.bar.hide()
        self.detail = QLabel("", wordWrap=True)
        self.result = QLabel("", wordWrap=True)
        buttons = QDialogButtonBox()
        self.start = QPushButton("Start")
        self.cancel = QPushButton("Cancel")
        self.zero_shot = QPushButton("Go back to zero-shot")
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        for button in (self.start, self.cancel, self.zero_shot):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        for widget in (self.intro, self.bar, self.detail, self.result, buttons):
            layout.addWidget(widget)
        self.intro.setMinimumWidth(460)  # wrapped labels set the width, the texts the height
        self.start.setDefault(True)
        for widget in (self.cancel, self.detail, self.result):
            widget.hide()
        self.start.clicked.connect(self.run)
        self.cancel.clicked.connect(self.stop)
        self.zero_shot.clicked.connect(self.go_back)
        self.close_button.clicked.connect(self.close)
        self.zero_shot.setToolTip("Forget the adaptation and use the model as it was trained")
        self.thread: QThread | None = None
        run_task(backend.pool, self, lambda: hooks.usable(backend.lib), self._counted,
                 lambda exc: self.intro.setText(f"Could not count usable photos: {exc}"))

    def _counted(self, usable) -> None:
        counts = usable if isinstance(usable, int) else _numbers(usable)
        text = f"{counts:,}" if isinstance(counts, int) else \
            ", ".join(f"{v:,} {k}" for k, v in counts.items())
        self.intro.setText(f"Photos with your own captions or tags: {text}. photofind can "
                           "learn your words from them, then keeps the result only if it "
                           "finds your photos better than before.")
        self.start.setEnabled(bool(usable) if isinstance(usable, int) else True)

    def run(self) -> None:
        self.state, self.started_at = "running", time.monotonic()
        self.worker = AdaptWorker(self.hooks, self.backend.lib)
        self.thread = QThread(self)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.progress.connect(self._progress)
        self.worker.finished.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.thread.finished.connect(self.worker.deleteLater)
        self.start.hide()
        self.zero_shot.hide()
        self.cancel.show()
        self.bar.setRange(0, 0)
        self.bar.show()
        self.detail.setText("Starting…")
        self.detail.show()
        self.result.hide()
        self.thread.start()

    def stop(self) -> None:
        if self.state == "running":
            self.worker.token.cancel()
            self.detail.setText("Cancelling…")

    def _progress(self, done: int, total: int, loss) -> None:
        if total:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        elapsed = time.monotonic() - self.started_at
        eta = f" · about {_duration(elapsed / done * (total - done))} left" if done and total \
            else ""
        loss_text = f"loss {loss:.4f}" if isinstance(loss, (int, float)) else "training"
        self.detail.setText(f"Step {done:,} of {total:,} · {loss_text}{eta}")

    def _finished(self, result) -> None:
        cancelled = self.worker.token.cancelled
        self._end("cancelled" if cancelled else "done")
        if cancelled:
            self._report("Cancelled: the model is unchanged.")
            return
        kept = bool(_get(result, "kept"))
        verdict = "Kept: searches now use the adapted model." if kept else \
            "Not kept: it did not find your photos better, so the model is unchanged."
        numbers = _compare(_get(result, "before"), _get(result, "after"))
        self._report("\n".join(filter(None, [numbers, verdict])))
        if kept:
            self.model_changed.emit()

    def _failed(self, exc) -> None:
        self._end("failed")
        self._report(f"Adaptation failed: {exc}")

    def _report(self, text: str) -> None:
        self.result.setText(text)
        self.result.show()

    def _end(self, state: str) -> None:
        self.state = state
        self.start.setText("Run again")
        self.thread.quit()
        for widget in (self.bar, self.detail, self.cancel):
            widget.hide()
        self.start.show()
        self.zero_shot.show()

    def go_back(self) -> None:
        self.zero_shot.setEnabled(False)
        run_task(self.backend.pool, self, lambda: self.hooks.reset(self.backend.lib),
                 self._reset_done, lambda exc: self._report(f"Could not go back: {exc}"))

    def _reset_done(self, _result) -> None:
        self.zero_shot.setEnabled(True)
        self._report("Back to the zero-shot model.")
        self.model_changed.emit()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.stop()
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait()
        super().closeEvent(event)


def _get(obj, name: str):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _numbers(obj) -> dict:
    items = obj.items() if isinstance(obj, dict) else vars(obj).items()
    return {k: v for k, v in items if isinstance(v, int | float) and not isinstance(v, bool)}


def _compare(before, after) -> str:
    """"before → after" for a number or for each number of a mapping."""
    if isinstance(before, int | float) and isinstance(after, int | float):
        return f"Search quality on your photos: {before:.3f} → {after:.3f}"
    if before is None or after is None:
        return ""
    old, new = _numbers(before), _numbers(after)
    return "Search quality on your photos (before → after):\n" + "\n".join(
        f"    {k}: {old[k]:.3f} → {new[k]:.3f}" for k in old if k in new)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
