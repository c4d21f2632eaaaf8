"""The live library in the app: a ``LibraryWatcher`` started and stopped off the UI thread,
its reports handed to the UI thread as a Qt signal.

The watcher and the app's own indexing both write to the library; ``Serialized`` makes the
watcher's passes take the same lock as the indexing thread, so the two never interleave.
"""

from __future__ import annotations

import os
import threading

from PySide6.QtCore import QObject, QThreadPool, Signal

from photofind.gui.tasks import run_task
from photofind.services.watch import LibraryWatcher

DEBOUNCE_S = 1.0  # quiet time before a batch of changes is indexed
CHECK_EVERY_S = 2.0  # how often the watcher looks for new, missing or returning folders


class Serialized:
    """The library as the watcher sees it: writing calls hold ``lock`` (shared with the
    app's indexing thread); everything else passes through."""

    def __init__(self, lib, lock: threading.RLock):
        self._lib, self._lock = lib, lock

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def _locked(name):  # noqa: N805 - builds methods below
        def call(self, *args, **kwargs):
            with self._lock:
                return getattr(self._lib, name)(*args, **kwargs)
        call.__name__ = name
        return call

    index, reconcile = _locked("index"), _locked("reconcile")
    move_paths, remove_paths = _locked("move_paths"), _locked("remove_paths")


class LiveLibrary(QObject):
    """``start()`` returns at once; ``changed(report)`` arrives on the UI thread after every
    pass; ``states()`` gives each folder's "watching", "polling" or "offline"."""

    changed = Signal(object)  # IndexReport
    started = Signal()

    def __init__(self, lib, lock: threading.RLock, pool: QThreadPool, parent=None):
        super().__init__(parent)
        self.lib, self.lock, self.pool = lib, lock, pool
        self.watcher: LibraryWatcher | None = None
        self.starting = False  # start() was called
        self._guard = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        """Watch in the background (setting up watches walks the folders). Catching up with
        changes made while the app was closed is left to the caller's indexing queue."""
        self.starting = True
        run_task(self.pool, self, self._start, lambda _: self.started.emit())

    def _start(self) -> None:
        watcher = LibraryWatcher(Serialized(self.lib, self.lock), debounce=DEBOUNCE_S,
                                 on_change=self.changed.emit, check_every=CHECK_EVERY_S)
        watcher.start(reconcile=False)
        with self._guard:
            if not self._stopped:
                self.watcher = watcher
                return
        watcher.stop()  # stopped while starting

    def states(self) -> dict[str, str]:
        return self.watcher.states() if self.watcher is not None else {}

    def stop(self) -> None:
        """Blocks until a running pass reaches a batch boundary: call it off the UI thread,
        or when the app quits."""
        with self._guard:
            self._stopped = True
            watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.stop()


def changed_anything(report) -> bool:
    """Did a watcher pass change what the app shows (photos, texts, an offline folder)?"""
    return bool(report.added or report.updated or report.moved or report.removed or
                report.errors or report.metadata_updated or report.problems)


def brief(report) -> str:
    """"3 new, 1 moved": only what happened (``IndexReport.summary`` lists every zero too)."""
    counts = ((report.added, "new"), (report.updated, "changed"), (report.moved, "moved"),
              (report.metadata_updated, "with new captions or tags"),
              (report.removed, "removed"), (report.errors, "unreadable"))
    parts = [f"{count:,} {what}" for count, what in counts if count]
    parts += [f"{os.path.basename(path.rstrip(os.sep)) or path}: {reason}"
              for path, reason in report.problems[:1]]
    return ", ".join(parts) + (" (cancelled)" if report.cancelled else "")
