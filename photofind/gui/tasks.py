"""Run a small blocking call (a thumbnail, a catalog look-up) in a thread pool and get its
result back on the UI thread, so no widget code ever waits on disk or SQLite."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Relay(QObject):
    """Lives on the UI thread; its queued signals carry the result back there."""

    done = Signal(object)
    failed = Signal(object)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], object], relay: _Relay):
        super().__init__()
        self.fn, self.relay = fn, relay

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # noqa: BLE001 - reported to the caller, never lost
            self.relay.failed.emit(exc)
        else:
            self.relay.done.emit(result)


def run_task(pool: QThreadPool, owner: QObject, fn: Callable[[], object],
             on_done: Callable[[object], None],
             on_error: Callable[[Exception], None] | None = None, priority: int = 0) -> None:
    """Call ``fn()`` on ``pool``; ``on_done(result)`` or ``on_error(exc)`` runs on the UI
    thread. ``owner`` keeps the relay alive until it has delivered."""
    relay = _Relay(owner)
    relay.done.connect(on_done)
    if on_error is not None:
        relay.failed.connect(on_error)
    relay.done.connect(relay.deleteLater)
    relay.failed.connect(relay.deleteLater)
    pool.start(_Task(fn, relay), priority)
