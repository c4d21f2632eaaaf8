"""One writer per library, across processes; readers never wait.

The app watching its folders and a ``photofind index`` in a terminal used to write the same
data dir at once: each kept its own copy of the search index in memory and the last to save
it dropped the other's photos (29 of 272 unfindable in a probe). Every job that changes the
library (index, watch batches, adapt, forget, import) now holds ``writer.lock`` in the data
dir; a second writer says who holds it and waits. Searches take no lock: SQLite's WAL lets
them read while a writer works.

The lock is re-entrant within a process (a watch batch that indexes holds it once), and a
process that dies releases it with its file descriptor, so a kill -9 never leaves it stuck.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)


class WriterLock:
    def __init__(self, data_dir: Path):
        self._lock = FileLock(data_dir / "writer.lock", thread_local=False)
        self._holder = data_dir / "writer.json"

    @contextmanager
    def hold(self, what: str, cancelled: Callable[[], bool] | None = None,
             on_wait: Callable[[str], None] | None = None) -> Iterator[bool]:
        """Hold the lock for ``what`` ("indexing", …). Yields whether another writer had to
        be waited for (its changes are then news to this process). ``cancelled`` gives up
        waiting (``Timeout`` is raised)."""
        waited = False
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            waited = True
            message = f"another photofind is updating this library ({self.holder()}); waiting…"
            (on_wait or log.warning)(message)
            self._lock.acquire(cancel_check=cancelled)
        try:
            if self._lock.lock_counter == 1:
                self._write_holder(what)
            yield waited
        finally:
            self._lock.release()

    @property
    def depth(self) -> int:
        """How many ``hold``s of this process are open (1: the outermost)."""
        return self._lock.lock_counter

    def holder(self) -> str:
        """Who holds the lock, as people read it: "pid 4242: indexing"."""
        try:
            info = json.loads(self._holder.read_text())
            return f"pid {int(info['pid'])}: {info['what']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "pid unknown"

    def _write_holder(self, what: str) -> None:
        try:
            tmp = self._holder.with_name(f".{self._holder.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"pid": os.getpid(), "what": what, "since": time.time()}))
            os.replace(tmp, self._holder)
        except OSError:  # informative only
            pass
