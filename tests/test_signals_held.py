"""A stop signal that lands while a child process starts is acted on right after the start,
by the handler it was meant for (a KeyboardInterrupt inside a spawn cut the child's start-up
data short and the child printed a traceback on the person's terminal)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from photofind.library.pipeline import signals_held


def test_a_sigterm_during_a_start_is_handled_after_it():
    seen: list[str] = []

    def handler(number, _frame):
        seen.append("handled")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)  # a real signal, to this process
            time.sleep(0.05)  # Python would have run the handler by now
            seen.append("start finished")
        assert seen == ["start finished", "handled"]
        assert signal.getsignal(signal.SIGTERM) is handler  # put back as it was
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_ctrl_c_during_a_start_interrupts_after_it():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
