"""What the services' long jobs share: a progress callback and a token to cancel them."""

from __future__ import annotations

import threading
from collections.abc import Callable

Progress = Callable[[int, int, str], None]  # (done, total, the item being worked on)


class CancelToken:
    """Set from any thread; long operations stop at the next batch boundary."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
