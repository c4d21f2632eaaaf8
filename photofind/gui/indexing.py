"""What the window knows about indexing: queued jobs, each folder's state ("waiting…",
"indexing…", "removing…") and the status-bar progress. The work itself runs in the backend's
index thread; this object only keeps the UI's picture of it consistent."""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal

from photofind.gui.progress import IndexProgress


class IndexQueue(QObject):
    changed = Signal()  # folder states or the catalog changed: refresh what depends on them
    finished = Signal(object)  # IndexReport of a completed job
    failed = Signal(object)  # exception of a failed job

    def __init__(self, progress: IndexProgress, parent: QObject | None = None):
        super().__init__(parent)
        self.progress = progress
        self.backend = None
        self.jobs = 0
        self.states: dict[str, str] = {}
        self.last_report = None
        progress.cancel_requested.connect(lambda: self.backend.cancel_indexing())

    def attach(self, backend) -> None:
        """Follow a (new) library's backend; jobs of the previous one are forgotten."""
        self.backend, self.jobs, self.states = backend, 0, {}
        self.progress.finish()
        backend.index_started.connect(self._started)
        backend.index_progress.connect(lambda done, total, _path:
                                       self.progress.update_count(done, total))
        backend.index_finished.connect(self._finished)
        backend.index_failed.connect(self._failed)

    def add(self, paths: list[str]) -> bool:
        """Index folders (and single photos) in the background, in the order given."""
        paths = [os.path.abspath(p) for p in paths if os.path.exists(p)]
        if not paths:
            return False
        self.states.update({p: "waiting…" for p in paths if os.path.isdir(p)})
        self.jobs += 1
        if self.jobs == 1:
            self.progress.preparing("Waiting…")
        self.backend.index(paths)
        self.changed.emit()
        return True

    def forget(self, path: str) -> None:
        """Remove a folder from the library (after cancelling its indexing, if running)."""
        if path in self.states:
            self.backend.cancel_indexing()
        self.states[path] = "removing…"
        self.jobs += 1
        self.backend.forget(path)
        self.changed.emit()

    def _started(self, targets: list) -> None:
        self.states.update({p: "indexing…" for p in targets if p in self.states})
        self.progress.preparing("Preparing: loading the model and looking for photos…")
        self.changed.emit()

    def _finished(self, report, targets: list) -> None:
        self._done(targets)
        if report is not None:  # None: a removal, or cancelled before it started
            self.last_report = report
            self.finished.emit(report)

    def _failed(self, exc, targets: list) -> None:
        self._done(targets)
        self.failed.emit(exc)

    def _done(self, targets: list) -> None:
        self.jobs = max(0, self.jobs - 1)
        for path in targets:
            self.states.pop(path, None)
        if self.jobs == 0:
            self.progress.finish()
            self.states.clear()  # e.g. "removing…" entries
        self.changed.emit()
