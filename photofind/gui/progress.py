"""The status-bar indexing indicator: what is happening, how far, how long, and Cancel."""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class IndexProgress(QWidget):
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(200)
        self.bar.setTextVisible(False)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop indexing; photos indexed so far stay searchable")
        self.cancel.clicked.connect(self._cancel)
        for widget in (self.label, self.bar, self.cancel):
            layout.addWidget(widget)
        self._started = 0.0
        self.hide()

    def preparing(self, what: str) -> None:
        """Busy, with no count yet (loading the model, scanning folders)."""
        self.show()
        self.cancel.setEnabled(True)
        self.bar.setRange(0, 0)
        self.label.setText(what)
        self._started = 0.0

    def update_count(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self._started or done <= 1:
            self._started, self._first = now, done
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        rate_done = done - self._first
        left = ""
        if rate_done > 0 and now - self._started > 2:
            seconds = (now - self._started) / rate_done * (total - done)
            left = f" · about {duration(seconds)} left"
        self.label.setText(f"Indexing {done:,} of {total:,}{left}")

    def _cancel(self) -> None:
        self.cancel.setEnabled(False)
        self.label.setText("Cancelling…")
        self.cancel_requested.emit()

    def finish(self) -> None:
        self.hide()


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds / 5) * 5)} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
