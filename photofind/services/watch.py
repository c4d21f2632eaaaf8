"""Keep the library in step with its folders while the app runs.

``LibraryWatcher`` watches every root with a native watchdog ``Observer`` (inotify on Linux)
and falls back to a ``PollingObserver`` where native events cannot be trusted: network
shares (changes made by other machines raise no inotify events), a native watch that cannot
be set up, more folders than inotify watches, or on request. Events are collected by
``ChangeSet`` and applied by one worker thread, one batched pass per quiet period, so a
thousand new files cost a few model batches, not a thousand passes.

A root whose folder disappears (unplugged drive, unmounted share) is marked offline: its
photos stay in the catalog, hidden from search, and come back when it returns. No Qt here:
``on_change(report)`` is called from the worker thread after every pass (a GUI should hand it
to its own thread).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from watchdog.events import (
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from photofind.library import paths
from photofind.library.changes import Batch, ChangeSet
from photofind.services.indexing import IndexReport
from photofind.services.jobs import CancelToken
from photofind.services.library import PhotoLibrary

log = logging.getLogger(__name__)

WATCHING, POLLING, OFFLINE = "watching", "polling", "offline"

# Opens and reads (our own decoding included) are of no interest.
EVENTS = [FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent,
          FileDeletedEvent, FileMovedEvent, DirDeletedEvent, DirMovedEvent]

NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre",
    "davfs", "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.gvfsd-fuse", "fuse.davfs2",
})

OnChange = Callable[[IndexReport], None]


@dataclass
class _Root:
    state: str | None  # None until first seen
    identity: tuple[int, int] | None = None  # (st_dev, st_ino): a new folder at the same path
    observer: BaseObserver | None = None
    watch: ObservedWatch | None = None


class _Handler(FileSystemEventHandler):
    def __init__(self, root: str, changes: ChangeSet, wake: threading.Event):
        self.root, self.changes, self.wake = root, changes, wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if self.changes.record(event, self.root):
            self.wake.set()  # only the first event of a quiet period needs the worker


class _OverflowAlarm(logging.Handler):
    """watchdog reports a kernel inotify queue overflow (events lost) only in its log; hear it
    there and re-index the natively watched roots instead of silently missing files."""

    def __init__(self, on_overflow: Callable[[], None]):
        super().__init__(logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.on_overflow()


class LibraryWatcher:
    """Watch every root of ``library`` and index what changes, in batches.

    ``debounce``: seconds of quiet before a pass; ``max_wait``: the longest a change waits
    during an endless stream of events; ``polling``: True, or the roots to poll instead of
    watching natively; ``poll_interval``: seconds between polls; ``check_every``: seconds
    between checks that the roots' folders are still there.
    """

    OVERFLOW_LOGGER = "watchdog.observers.inotify_c"

    def __init__(self, library: PhotoLibrary, debounce: float = 1.0,
                 on_change: OnChange | None = None, *, max_wait: float | None = None,
                 polling: bool | Iterable[str | os.PathLike] = False,
                 poll_interval: float = 5.0, check_every: float = 2.0):
        self.library, self.on_change = library, on_change
        self.changes = ChangeSet(debounce, max_wait or 10 * debounce)
        self.check_every = check_every
        self._force_polling = polling if isinstance(polling, bool) else \
            {paths.to_text(p) for p in polling}
        self._native, self._poller = Observer(), PollingObserver(timeout=poll_interval)
        self._roots: dict[str, _Root] = {}
        self._roots_lock = threading.Lock()
        self._wake, self._stop, self._cancel = threading.Event(), threading.Event(), CancelToken()
        self._thread: threading.Thread | None = None
        self._alarm = _OverflowAlarm(self._on_overflow)
        self._busy, self._failures = True, 0  # busy until the first look at the roots
        self.passes = 0  # batches processed, start-up reconciliation included

    # -- public API -------------------------------------------------------------------------
    def start(self, reconcile: bool = True) -> LibraryWatcher:
        """Watch first, then (in the background) catch up with changes made while nobody
        watched, so nothing that happens during the catch-up is missed."""
        self._native.start()
        self._poller.start()
        logging.getLogger(self.OVERFLOW_LOGGER).addHandler(self._alarm)
        self._check_roots(reconciling=reconcile)
        self._thread = threading.Thread(target=self._run, args=(reconcile,),
                                        name="photofind-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching; a running pass stops at its next batch boundary."""
        self._stop.set()
        self._cancel.cancel()
        self._wake.set()
        logging.getLogger(self.OVERFLOW_LOGGER).removeHandler(self._alarm)
        for observer in (self._native, self._poller):
            if observer.is_alive():
                observer.stop()
                observer.join()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> LibraryWatcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def state(self, root: str | os.PathLike) -> str:
        """WATCHING (native events), POLLING or OFFLINE; KeyError for a path not a root."""
        return self.states()[paths.to_text(root)]

    def states(self) -> dict[str, str]:
        """Every root's state, as of the last check (every ``check_every`` seconds)."""
        with self._roots_lock:
            return {path: root.state for path, root in self._roots.items() if root.state}

    @property
    def running(self) -> bool:
        """Is the worker alive? (Started, not stopped, and no pass killed it.)"""
        return self._thread is not None and self._thread.is_alive()

    @property
    def busy(self) -> bool:
        """A pass is running or changes wait for one (for an "updating…" indicator)."""
        return self._busy or len(self.changes) > 0

    # -- the worker -------------------------------------------------------------------------
    def _run(self, reconcile: bool) -> None:
        if reconcile:
            self._pass(lambda: self.library.reconcile(cancel=self._cancel))
        next_check = 0.0
        while not self._stop.is_set():
            now = self.changes.clock()
            if now >= next_check:
                try:
                    self._check_roots()
                except Exception:  # e.g. the catalog locked by another writer: try again later
                    log.exception("photofind: checking the library's folders failed")
                next_check = now + self.check_every
            self._busy = True  # before taking, so that ``busy`` never misses a batch in hand
            if batch := self.changes.take():
                self._pass(functools.partial(self._apply, batch))
            self._busy = False
            due = self.changes.due_in()
            wait = next_check - self.changes.clock() if due is None else \
                min(due, next_check - self.changes.clock())
            self._wake.wait(max(wait, 0.01))
            self._wake.clear()

    def _pass(self, work: Callable[[], IndexReport]) -> None:
        try:
            report = work()
        except Exception:  # keep watching: re-index the roots in full, after a back-off
            log.exception("photofind: indexing pass failed")
            self._failures += 1
            for path, state in self.states().items():
                if state != OFFLINE:
                    self.changes.rescan(path)
            self._stop.wait(min(60.0, 2.0 ** self._failures))
            return
        self._failures = 0
        self.passes += 1
        self._notify(report)

    def _apply(self, batch: Batch) -> IndexReport:
        """Moves first (their sources must still be known), then new and changed files (a
        file moved between roots is matched by content hash while its old row exists),
        deletions last."""
        library = self.library
        with library.writing("updating from folder changes", self._cancel):
            moved = library.move_paths(batch.moves) if batch.moves else 0
            targets = sorted(p for p in batch.files if os.path.isfile(p)) + sorted(batch.rescan)
            report = library.index(targets, cancel=self._cancel) if targets else IndexReport()
            report.moved += moved
            report.removed += library.remove_paths(batch.deleted) if batch.deleted else 0
        return report

    def _notify(self, report: IndexReport) -> None:
        if self.on_change is not None:
            try:
                self.on_change(report)
            except Exception:
                log.exception("photofind: on_change callback failed")

    def _on_overflow(self) -> None:
        for path, state in self.states().items():
            if state == WATCHING:
                self.changes.rescan(path)
        self._wake.set()

    # -- roots --------------------------------------------------------------------------------
    def _check_roots(self, reconciling: bool = False) -> None:
        """Follow the catalog's roots: watch new ones, drop forgotten ones, take missing ones
        offline and bring back returning ones (re-indexed, which marks them online)."""
        catalog_roots = {path: (rid, online) for rid, path, _, online in
                         self.library.catalog.roots()}
        went_offline = []
        with self._roots_lock:
            for path in set(self._roots) - set(catalog_roots):
                self._unwatch(self._roots.pop(path))
            for path, (root_id, online) in catalog_roots.items():
                root = self._roots.setdefault(path, _Root(None))
                if not self.library.root_present(path):
                    self._unwatch(root)
                    root.state, root.identity = OFFLINE, None
                    if online:
                        self.library.catalog.set_root_online(root_id, False)
                        went_offline.append(path)
                    continue
                returned = root.state == OFFLINE or (
                    root.state is not None and root.identity != _identity(path))
                if root.state is None or returned:
                    self._watch(path, root)
                    if root.state is None:
                        continue
                if returned or (not online and not reconciling):
                    self.changes.rescan(path)
        if went_offline:
            self._notify(IndexReport(problems=[(p, "offline: folder missing; its photos are "
                                                   "kept") for p in went_offline]))

    def _watch(self, path: str, root: _Root) -> None:
        self._unwatch(root)
        handler = _Handler(path, self.changes, self._wake)
        reason = self._polling_reason(path)
        if reason is None:
            try:
                root.watch = self._native.schedule(handler, path, recursive=True,
                                                   event_filter=EVENTS)
                root.observer, root.state = self._native, WATCHING
            except OSError as exc:  # e.g. out of inotify instances or watches
                reason = f"native watching failed: {exc}"
        if reason is not None:
            log.info("photofind: polling %s (%s)", path, reason)
            try:  # the poller snapshots the folder at once
                root.watch = self._poller.schedule(handler, path, recursive=True,
                                                   event_filter=EVENTS)
            except OSError:  # gone since it was found present: the next check takes it offline
                root.state = None
                return
            root.observer, root.state = self._poller, POLLING
        root.identity = _identity(path)

    def _unwatch(self, root: _Root) -> None:
        if root.observer is not None and root.watch is not None:
            try:
                root.observer.unschedule(root.watch)
            except (KeyError, OSError):
                pass  # its emitter already stopped (a polled folder that vanished)
        root.observer = root.watch = None

    def _polling_reason(self, path: str) -> str | None:
        if self._force_polling is True or (
                not isinstance(self._force_polling, bool) and path in self._force_polling):
            return "requested"
        fs_type = filesystem_type(path)
        if fs_type in NETWORK_FILESYSTEMS:
            return f"network filesystem {fs_type}: other machines' changes raise no events"
        if more_folders_than_watches(path):
            return "more folders than inotify watches (fs.inotify.max_user_watches)"
        return None


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def filesystem_type(path: str) -> str | None:
    """The type of the filesystem holding ``path`` (Linux: /proc/self/mounts), else None."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            table = [line.split()[1:3] for line in mounts if len(line.split()) >= 3]
    except OSError:
        return None
    real = os.path.realpath(path)
    best = None
    for mount_point, fs_type in table:
        mount_point = mount_point.replace("\\040", " ").replace("\\011", "\t")
        if paths.under(real, mount_point):
            if best is None or len(mount_point) > len(best[0]):
                best = (mount_point, fs_type)
    return best[1] if best else None


def more_folders_than_watches(path: str) -> bool:
    """Would watching ``path`` use more than half the inotify watches a user may hold?
    watchdog skips sub-folders it cannot watch without saying so, which would lose events."""
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as limit_file:
            budget = int(limit_file.read()) // 2
    except (OSError, ValueError):
        return False
    for count, _ in enumerate(os.walk(path), 1):
        if count > budget:
            return True
    return False
