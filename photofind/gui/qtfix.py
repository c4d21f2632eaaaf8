"""Guard against PySide6 6.12.0 on CPython < 3.12: its bindings return ``None`` from every
void call (and ``True`` from ``Signal.emit``) without owning a reference, so each call drops a
reference to the singleton. A window makes thousands of such calls a second; within a minute
the interpreter aborts ("none_dealloc: deallocating None"). CPython 3.12 made these singletons
immortal, which hides the bug there; 6.11 does not have it.

When a probe shows references being lost, this gives ``None``, ``True`` and ``False`` a
reference count no session can exhaust: the immortality that CPython 3.12 gives them."""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

PROBE_CALLS = 100
ENOUGH = 1 << 40  # references lost at ~10^4 per second would take years to reach zero


class _Probe(QObject):
    ping = Signal()


def loses_references() -> bool:
    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(PROBE_CALLS):
        probe.setObjectName("probe")  # a void call
        probe.ping.emit()
    return (none_before - sys.getrefcount(None) >= PROBE_CALLS or
            true_before - sys.getrefcount(True) >= PROBE_CALLS)


_applied = False


def install() -> bool:
    """Apply the guard where needed (once); returns whether it is in force."""
    global _applied
    if _applied:
        return True
    plain_cpython = sys.implementation.name == "cpython" and \
        not hasattr(sys, "gettotalrefcount")  # debug builds lay objects out differently
    if sys.version_info >= (3, 12) or not plain_cpython or not loses_references():
        return False
    for singleton in (None, True, False):  # ob_refcnt is a PyObject's first field
        ctypes.c_ssize_t.from_address(id(singleton)).value += ENOUGH
    _applied = True
    return True
