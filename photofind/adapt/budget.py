"""A stage's time budget, checked per batch so that a run's wall time is predictable.

Checking only between epochs let one epoch overrun by its whole length: with concept words
an adapter epoch took 50-92 s, so a 120 s budget ended after up to 212 s, and a whole
"Adapt to my library" run took 1,132 s against 240 s for its first stage.
"""

from __future__ import annotations

import time


class Budget:
    """``seconds`` from creation (None: no limit). ``reserve`` is time a stage keeps for
    what must follow its loop (validation after training, choosing fusion weights)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.started = time.monotonic()

    def spent(self) -> float:
        return time.monotonic() - self.started

    def exhausted(self, reserve: float = 0.0) -> bool:
        return self.seconds is not None and self.spent() + reserve >= self.seconds

    def epochs_that_fit(self, done: int, each: float) -> int | None:
        """How many epochs in all fit, ``done`` of them run at ``each`` seconds apiece."""
        if self.seconds is None:
            return None
        return done + int(max(0.0, self.seconds - self.spent()) // max(each, 1e-9))

    def capped(self, estimate: float) -> float:
        """A time-left estimate no longer than the budget allows."""
        if self.seconds is None:
            return float(estimate)
        return float(min(estimate, max(0.0, self.seconds - self.spent())))
