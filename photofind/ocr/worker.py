"""The text reader in a process of its own, at the lowest CPU priority.

Reading text costs about as much CPU per photo as embedding it, and comes second: run as
``SCHED_IDLE`` (or ``nice 19`` where that does not exist), the reader gets the cores only
when embedding, the GUI and everything else leave them idle. Its own process also keeps
OpenCV and the OCR models out of the app's memory once the pass is over, and lets a cancel
stop it at once (the process is ended; its unfinished batch was never saved).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from multiprocessing.connection import Connection

from photofind.library.decode import PhotoError
from photofind.library.pipeline import follow_parent, signals_held
from photofind.ocr import MISSING

POLL_S = 0.2  # how often a wait for the reader looks at its cancel check


def lowest_priority() -> None:
    """This process (and the threads it starts) runs only on otherwise idle CPU."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.nice(19)
        except OSError:
            pass


def _serve(parent_pid: int, conn: Connection, threads: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    follow_parent(parent_pid)
    lowest_priority()
    from photofind.ocr.reader import TextReader

    try:
        reader = TextReader(threads)
    except Exception as exc:  # noqa: BLE001 - not installed, or its models fail to load
        conn.send(("unavailable", f"{exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        photo_id, raw_path = job
        try:
            lines = [line.as_dict() for line in reader.read_file(os.fsdecode(raw_path))]
            conn.send((photo_id, lines, None))
        except PhotoError as exc:
            conn.send((photo_id, [], str(exc) if os.path.exists(raw_path) else MISSING))
        except FileNotFoundError:
            conn.send((photo_id, [], MISSING))
        except Exception as exc:  # noqa: BLE001 - one photo's failure must not end the pass
            conn.send((photo_id, [], f"its text could not be read: {type(exc).__name__}: "
                                     f"{exc}"))


class ReaderProcess:
    """Start with ``ReaderProcess()``; ``read`` yields (photo_id, lines, error) per photo."""

    def __init__(self, threads: int | None = None):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(os.getpid(), child, threads),
                                        name="photofind-text-reader", daemon=True)
        with signals_held():
            self._process.start()
        child.close()

    def wait_ready(self, cancelled=lambda: False) -> str | None:
        """None once the reader is ready; the reason if it cannot run here."""
        message = self._receive(cancelled)
        if message is None:
            return "cancelled"
        kind, detail = message
        return None if kind == "ready" else detail

    def read(self, items: list[tuple[int, bytes]], cancelled=lambda: False
             ) -> Iterator[tuple[int, list[dict], str | None]]:
        """Read each (photo_id, raw_path); stops early (without a result for the rest) when
        ``cancelled()`` turns true or the reader dies."""
        for item in items:
            try:
                self._conn.send(item)
            except OSError:  # the reader died since its last answer
                return
            message = self._receive(cancelled)
            if message is None:
                return
            yield message

    def _receive(self, cancelled):
        while not self._conn.poll(POLL_S):
            if cancelled() or not self._process.is_alive():
                return None
        try:
            return self._conn.recv()
        except EOFError:
            return None

    def close(self) -> None:
        """End the reader now (a photo it is reading is simply dropped)."""
        try:
            self._conn.close()
        finally:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(5)
