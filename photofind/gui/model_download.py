"""The first run's model download, shown: how much of how much, how fast, how long still;
Cancel; when it fails, why in words, Try again, or a weights file the person already has.

The download runs on the backend's pool (``PhotoLibrary.download_weights``, which is
huggingface_hub's own); its progress reaches this dialog through a queued signal. A cancel
stops it at the next chunk (10 MB).
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from photofind.embed.download import DownloadCancelled
from photofind.gui.dialog_parts import quiet_note

BAR_STEPS = 1000


class _Progress(QObject):
    """Carries ``(done, total)`` from the pool thread to the dialog's thread."""

    moved = Signal("qint64", "qint64")  # not int: files past 2 GiB would overflow it


class ModelDownloadDialog(QDialog):
    downloaded = Signal()
    choose_file = Signal()

    def __init__(self, backend, where, model_label: str, parent=None):
        super().__init__(parent)
        self.backend, self.where = backend, where
        self.state = "idle"  # downloading, done, failed, cancelled
        self.setWindowTitle("Downloading the search model")
        self.setMinimumWidth(500)
        layout = QVBoxLayout(self)
        self.intro = QLabel(f"photofind needs its image–text model, {model_label}, to index and "
                            "search your photos. It is downloaded once and then works without "
                            "the internet.", wordWrap=True)
        self.bar = QProgressBar(maximum=BAR_STEPS, textVisible=False)
        self.line = QLabel("Starting…")
        self.problem = QLabel(wordWrap=True, visible=False)
        layout.addWidget(self.intro)
        layout.addWidget(self.bar)
        layout.addWidget(self.line)
        layout.addWidget(self.problem)
        layout.addWidget(quiet_note("Folders you add meanwhile are indexed as soon as the model "
                                    "is here."))
        buttons = QHBoxLayout()
        self.file_button = QPushButton("Choose a weights file…")
        self.retry = QPushButton("Try again", visible=False)
        self.cancel = QPushButton("Cancel")
        self.file_button.clicked.connect(self._choose_file)
        self.retry.clicked.connect(self.start)
        self.cancel.clicked.connect(self.stop)
        buttons.addWidget(self.file_button)
        buttons.addStretch(1)
        buttons.addWidget(self.retry)
        buttons.addWidget(self.cancel)
        layout.addLayout(buttons)
        self._relay = _Progress(self)
        self._relay.moved.connect(self._moved)
        self._stop = threading.Event()
        self._started_at, self._first = 0.0, 0

    # -- running ------------------------------------------------------------------------
    def start(self) -> None:
        if self.state == "downloading":
            return
        self.state = "downloading"
        self._stop = stop = threading.Event()
        self._started_at, self._first = time.monotonic(), -1
        self.problem.hide()
        self.retry.hide()
        self.cancel.setText("Cancel")
        self.line.setText("Connecting…")
        relay = self._relay

        def progress(done: int, total: int) -> None:  # on the pool thread
            if stop.is_set():
                raise DownloadCancelled()
            relay.moved.emit(done, total)

        self.backend.download_weights(self.where, progress, self._finished, self._failed)

    def stop(self) -> None:
        """Cancel at once while downloading (the transfer stops at its next chunk; a hub
        being retried finishes in the background, unheard); close otherwise."""
        if self.state == "downloading":
            self._stop.set()
            self._failed(DownloadCancelled())
        else:
            self.reject()

    def reject(self) -> None:
        self._stop.set()
        super().reject()

    def _moved(self, done: int, total: int) -> None:
        if self.state != "downloading":
            return
        if self._first < 0:  # a resumed download starts past 0: speed counts from here
            self._first, self._started_at = done, time.monotonic()
        self.bar.setValue(round(BAR_STEPS * done / total) if total else 0)
        self.line.setText(progress_line(done, total, done - self._first,
                                        time.monotonic() - self._started_at))

    def _finished(self, _path) -> None:
        if self.state != "downloading":
            return  # cancelled meanwhile: the next check finds the file cached
        self.state = "done"
        self.bar.setValue(BAR_STEPS)
        self.line.setText("Downloaded.")
        self.downloaded.emit()
        self.accept()

    def _failed(self, exc: Exception) -> None:
        if self.state != "downloading":
            return  # a try already given up on
        if isinstance(exc, DownloadCancelled):
            self.state = "cancelled"
            self.line.setText("Cancelled. Nothing was changed; Try again starts the download "
                              "over.")
        else:
            self.state = "failed"
            self.line.setText("The download did not work.")
            said, _, details = str(exc).partition("\n\nDetails: ")
            self.problem.setText(said)
            self.problem.setToolTip(details)
            self.problem.show()
        self.bar.setValue(0)
        self.retry.show()
        self.cancel.setText("Close")
        self.adjustSize()  # the message must not be cut

    def _choose_file(self) -> None:
        self._stop.set()
        self.choose_file.emit()
        self.reject()


def megabytes(count: int) -> str:
    return f"{count / 1e6:,.0f} MB" if count >= 10e6 else f"{count / 1e6:.1f} MB"


def progress_line(done: int, total: int, fetched: int, seconds: float) -> str:
    """"120 MB of 605 MB · 4.2 MB/s · about 2 minutes left": speed and time left from what
    this try fetched (a resumed part is not counted as speed)."""
    parts = [f"{megabytes(done)} of {megabytes(total)}" if total else megabytes(done)]
    if seconds >= 1 and fetched > 0:
        rate = fetched / seconds
        parts.append(f"{rate / 1e6:.1f} MB/s")
        if total > done:
            parts.append(f"about {_duration((total - done) / rate)} left")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
