"""The GUI's handle on one ``PhotoLibrary``: which thread does what.

- index thread (``QThread`` + ``IndexWorker``): ``lib.index`` and ``lib.forget``, one job at a
  time in drop order; model loading happens here or in the search thread, never on the UI.
- search thread (``QThread`` + ``SearchWorker``): searches, browsing, model warm-up. Requests
  carry a serial; a request older than the newest one is skipped, so typing never queues up
  stale searches.
- text thread (``QThread`` + ``TextWorker``): after each indexing job, the text in the new
  photos is read (by a process at idle priority).
- ``QThreadPool``: short catalog reads (status, photo details) and thumbnails.
- the live library (``photofind.gui.live``): a watcher's thread indexes what changes on disk.
The UI thread only sends requests and receives signals. The catalog and the vector index are
thread-safe, so search keeps working while indexing writes; writers (the index thread, the
watcher, adaptation) take ``write_lock`` so they never interleave.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time

from PySide6.QtCore import QObject, QThread, QThreadPool, Signal, Slot

from photofind import ocr
from photofind.gui.live import LiveLibrary
from photofind.gui.queries import Query, describe, library_summary, run_query
from photofind.gui.tasks import run_task
from photofind.gui.thumbs import PREVIEW_SIZE, ThumbCache, ThumbnailLoader
from photofind.services.jobs import CancelToken

PROGRESS_EVERY_S = 0.1  # progress signals at most this often
CHANGED_EVERY_S = 1.5  # "the catalog grew" signals while indexing
# Python hands the GIL between busy threads every 5 ms by default; the UI thread re-takes it
# for every slot, paint and model call, so under load it would wait 5 ms many times per
# frame. 1 ms keeps those waits short (measured: max UI gap while indexing ~60 → ~40 ms).
GIL_SWITCH_S = 0.001
log = logging.getLogger(__name__)


def settle_heap() -> None:
    """Take what exists now (imports, the loaded model) out of the garbage collector's view.
    A full collection walks every tracked object: with torch and open_clip loaded that is about
    half a million, 0.3-0.8 s with the GIL held, and it froze the window mid-indexing
    (measured). These objects live as long as the app anyway."""
    gc.freeze()


class IndexWorker(QObject):
    started = Signal(list)
    progress = Signal(int, int, str)
    changed = Signal()
    finished = Signal(object, list)  # IndexReport (None if skipped), targets
    failed = Signal(object, list)  # exception, targets

    def __init__(self, lib, write_lock: threading.RLock):
        super().__init__()
        self.lib, self.write_lock = lib, write_lock
        self.token = CancelToken()
        self.skip_through = 0  # tickets up to this one were cancelled before they started
        self._last_progress = self._last_changed = 0.0

    def cancel_all(self, last_ticket: int) -> None:
        """Called from the UI thread: stop the running job and drop the queued ones."""
        self.skip_through = last_ticket
        self.token.cancel()

    @Slot(list, int, bool)
    def index(self, targets: list, ticket: int, retry: bool = False) -> None:
        self.token = CancelToken()  # before the check: a cancel in between still lands
        if ticket <= self.skip_through:
            self.finished.emit(None, targets)
            return
        self.started.emit(targets)
        try:
            _ = self.lib.vectors  # the model and index, loaded on first use
            settle_heap()
            with self.write_lock:
                report = self.lib.index(targets, progress=self._progress, cancel=self.token,
                                        retry=retry)
        except Exception as exc:  # noqa: BLE001 - shown to the person, not raised into Qt
            self.failed.emit(exc, targets)
        else:
            self.finished.emit(report, targets)
        self.changed.emit()

    @Slot(str)
    def forget(self, path: str) -> None:
        """Queued behind indexing jobs, so a folder is never removed while being indexed."""
        try:
            with self.write_lock:
                self.lib.forget(path)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(exc, [path])
        else:
            self.finished.emit(None, [path])
        self.changed.emit()

    def _progress(self, done: int, total: int, path: str) -> None:
        now = time.monotonic()
        if done == total or now - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = now
            self.progress.emit(done, total, path)
        if now - self._last_changed >= CHANGED_EVERY_S:
            self._last_changed = now
            self.changed.emit()


class SearchWorker(QObject):
    answered = Signal(int, object)  # serial, list[Hit]
    failed = Signal(int, object)  # serial, exception
    model_ready = Signal(str)

    def __init__(self, lib):
        super().__init__()
        self.lib = lib
        self.latest = 0  # written by the UI thread

    @Slot(int, object)
    def search(self, serial: int, query: Query) -> None:
        if serial < self.latest:
            return
        try:
            hits = run_query(self.lib, query)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(serial, exc)
        else:
            self.answered.emit(serial, hits)

    @Slot()
    def warm_up(self) -> None:
        """Load the model (and index) now, so the first search is quick."""
        try:
            _ = self.lib.vectors
            settle_heap()
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(0, exc)
        else:
            self.model_ready.emit(self.lib.model_spec.describe())


class TextWorker(QObject):
    """Reads the text in photos after each indexing job (``lib.read_texts``), on a thread of
    its own so indexing never queues behind it; the reading itself runs in a process at idle
    CPU priority (``photofind.ocr.worker``), so it takes only what embedding leaves."""

    progress = Signal(int, int)
    finished = Signal(object)  # ReadReport, or None when it failed

    def __init__(self, lib):
        super().__init__()
        self.lib = lib
        self.token = CancelToken()
        self._last_progress = 0.0

    @Slot()
    def run(self) -> None:
        if self.token.cancelled:
            return
        try:
            report = self.lib.read_texts(progress=self._progress, cancel=self.token)
        except Exception:  # noqa: BLE001 - text is a bonus: searching goes on without it
            log.warning("reading text in photos failed", exc_info=True)
            report = None
        self.finished.emit(report)

    def _progress(self, done: int, total: int, _path: str) -> None:
        now = time.monotonic()
        if done == total or now - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = now
            self.progress.emit(done, total)


class Backend(QObject):
    """Owns a library and its worker threads; the main window talks only to this."""

    index_started = Signal(list)
    index_progress = Signal(int, int, str)
    library_changed = Signal()
    index_finished = Signal(object, list)
    index_failed = Signal(object, list)
    answered = Signal(int, object)
    search_failed = Signal(int, object)
    model_ready = Signal(str)
    text_progress = Signal(int, int)
    text_finished = Signal(object)
    _index_requested = Signal(list, int, bool)
    _text_requested = Signal()
    _forget_requested = Signal(str)
    _search_requested = Signal(int, object)
    _warm_requested = Signal()

    def __init__(self, lib, parent: QObject | None = None):
        super().__init__(parent)
        self.lib = lib
        settle_heap()  # the imports are done
        self.write_lock = threading.RLock()
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.live = LiveLibrary(lib, self.write_lock, self.pool, self)
        self.thumbs = ThumbnailLoader(ThumbCache(lib.data_dir), self)
        self.previews = ThumbCache(lib.data_dir)
        self.indexer, self.index_thread = IndexWorker(lib, self.write_lock), QThread(self)
        self.searcher, self.search_thread = SearchWorker(lib), QThread(self)
        self.reader, self.text_thread = TextWorker(lib), QThread(self)
        self.read_text = ocr.enabled()  # the app's setting may turn it off (window.py)
        for worker, thread, name in ((self.indexer, self.index_thread, "photofind-index"),
                                     (self.searcher, self.search_thread, "photofind-search"),
                                     (self.reader, self.text_thread, "photofind-text")):
            thread.setObjectName(name)
            worker.moveToThread(thread)
            thread.finished.connect(worker.deleteLater)
            thread.start()
        sys.setswitchinterval(GIL_SWITCH_S)
        self._index_requested.connect(self.indexer.index)
        self._forget_requested.connect(self.indexer.forget)
        self._search_requested.connect(self.searcher.search)
        self._warm_requested.connect(self.searcher.warm_up)
        self._text_requested.connect(self.reader.run)
        self.indexer.finished.connect(self._indexed)
        # forwarded through this object, so a retired backend can be muted in one call
        for source, target in ((self.indexer.started, self.index_started),
                               (self.indexer.progress, self.index_progress),
                               (self.indexer.changed, self.library_changed),
                               (self.indexer.finished, self.index_finished),
                               (self.indexer.failed, self.index_failed),
                               (self.searcher.answered, self.answered),
                               (self.searcher.failed, self.search_failed),
                               (self.searcher.model_ready, self.model_ready),
                               (self.reader.progress, self.text_progress),
                               (self.reader.finished, self.text_finished)):
            source.connect(target)
        self.tickets = self.serial = 0
        self._closing = False

    # -- requests (UI thread) ---------------------------------------------------------------
    def index(self, targets: list[str], retry: bool = False) -> None:
        self.tickets += 1
        self._index_requested.emit(list(targets), self.tickets, retry)

    def cancel_indexing(self) -> None:
        self.indexer.cancel_all(self.tickets)

    def read_texts(self) -> None:
        """Read the text in photos not read yet, in the background (queued behind a pass
        already running, which then finds little left)."""
        if self.read_text and not self._closing:
            self._text_requested.emit()

    def _indexed(self, report, _targets) -> None:
        if report is not None and not report.cancelled:
            self.read_texts()

    def forget(self, path: str) -> None:
        self._forget_requested.emit(path)

    def search(self, query: Query) -> int:
        self.serial += 1
        self.searcher.latest = self.serial
        self._search_requested.emit(self.serial, query)
        return self.serial

    def warm_up(self) -> None:
        self._warm_requested.emit()

    def status(self, on_done) -> None:
        """``on_done(summary)``: ``lib.status()`` plus ``tags`` (see ``library_summary``)."""
        run_task(self.pool, self, lambda: library_summary(self.lib), on_done)

    def describe(self, row, on_done, on_error) -> None:
        run_task(self.pool, self, lambda: describe(self.lib, row), on_done, on_error)

    def editable_texts(self, ids: list[int], sidecars: bool, on_done, on_error) -> None:
        run_task(self.pool, self, lambda: self.lib.editable_texts(ids, sidecars), on_done,
                 on_error)

    def edit_texts(self, ids: list[int], edit, sidecars: bool, on_done, on_error) -> None:
        run_task(self.pool, self, lambda: self.lib.edit_texts(ids, edit, sidecars), on_done,
                 on_error)

    def weights_to_download(self, on_done, on_error) -> None:
        """``on_done(HubWeights | None)``: what the model must download before it loads."""
        run_task(self.pool, self, self.lib.weights_to_download, on_done, on_error)

    def download_weights(self, where, progress, on_done, on_error) -> None:
        run_task(self.pool, self, lambda: self.lib.download_weights(where, progress), on_done,
                 on_error)

    def preview(self, row, on_done, on_error, size: int = PREVIEW_SIZE) -> None:
        run_task(self.pool, self, lambda: self.previews.load(row, size), on_done, on_error)

    # -- shutting down ----------------------------------------------------------------------
    def shutdown(self, wait: bool = False) -> None:
        """Stop the workers and close the library: at once (``wait``, when the app quits)
        or in the background (switching libraries), so the UI never waits on a batch."""
        if self._closing:
            return
        self._closing = True
        self.blockSignals(True)
        self.cancel_indexing()
        self.reader.token.cancel()
        self.searcher.latest = self.serial + 1  # drop queued searches
        self.thumbs.pool.clear()
        self.pool.clear()
        threads = (self.index_thread, self.search_thread, self.text_thread)
        for thread in threads:
            thread.quit()
        if wait:
            self.live.stop()
            for thread in threads:
                thread.wait()
            self._close()
            return
        self._running = len(threads) + 1
        run_task(self.pool, self, self.live.stop, self._thread_finished)
        for thread in threads:
            thread.finished.connect(self._thread_finished)

    def _thread_finished(self, *_) -> None:
        self._running -= 1
        if self._running == 0:
            self._close()

    def _close(self) -> None:
        self.thumbs.shutdown()
        self.pool.waitForDone(2000)
        self.lib.close()
        self.deleteLater()
