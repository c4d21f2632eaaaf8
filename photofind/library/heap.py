"""How this process's heap hands memory back to the system (glibc; elsewhere nothing).

glibc serves a request of 128 KiB or more with its own ``mmap``, returned to the system when
freed, until the first such block is freed: from then on it raises that threshold to the
size freed (up to 32 MiB) and serves big requests from its arenas, where a freed block
stays resident whenever anything still lives above it. Indexing frees big blocks all the
time (ONNX Runtime's load of a 335 MB graph, each decoded photo's 786 KB of pixels passed
between threads), so its resident memory depended on the order of frees: the same 1,000
Flickr8k photos peaked at 843 MB in one run and 1,501 MB in the next (summed over the
process tree, ViT-B-32-256 float32, 2 cores; the main process 729 against ~1,440 MB).

``return_big_blocks`` keeps the threshold at 128 KiB (glibc's own starting value, fixed);
the app calls it first thing, in its main process (decoder processes, used with an
accelerator, hold ~50 MB each and are left as they are). Measured with ONNX Runtime's
arena on (so that its buffers are reused, not mapped afresh each batch): 661 MB for those
photos in every run, 653 MB instead of 846 for 200 12-MP photos, at the same speed (12.62
vs 12.68 and 9.81 vs 9.91 img/s). torch is the exception: it frees and re-requests hundreds of MB each step, and
mapping them afresh made a ViT-B-32 training step 16 % slower (7.57 → 8.81 s, 10× the page
faults). ``pooled_big_blocks`` keeps them while it trains, as glibc would by itself.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc's malloc.h)
# (mmap, trim): big blocks mapped apart from 128 KiB (glibc's starting value, fixed); the
# top of the heap kept up to 32 MiB, so that the reranker's pooled working arrays (see
# pooled_big_blocks) are not handed back by the next free between queries (trimmed at
# 128 KiB: 100k-photo query 70.6 instead of 61.9 ms; indexing's peak the same, 553 MB)
RETURNED = (128 * 1024, 32 * 1024 * 1024)
# what glibc's own rule rises to on 64-bit: big blocks up to 32 MiB from the arenas, and
# the top of the heap kept up to twice that (a fixed mmap threshold stops glibc moving the
# trim threshold too: left at 128 KiB, the top was handed back each step, 1.9 M page faults
# instead of 0.8 M and 2 % slower, ViT-B-32 training)
POOLED = (32 * 1024 * 1024, 64 * 1024 * 1024)

_state = {"returning": False, "pooling": 0}
_lock = threading.Lock()


@functools.cache
def _glibc():
    """The C library when it is glibc, else None (macOS, Windows, musl: nothing to tune)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        return ctypes.CDLL(None)
    except (AttributeError, ValueError, OSError):  # no confstr name, or no dlopen
        return None


def _set(thresholds: tuple[int, int]) -> bool:
    libc = _glibc()
    if libc is None:
        return False
    mmap, trim = thresholds
    return bool(libc.mallopt(M_MMAP_THRESHOLD, mmap)) and \
        bool(libc.mallopt(M_TRIM_THRESHOLD, trim))


def return_big_blocks() -> bool:
    """From now on every block of 128 KiB or more goes back to the system when freed
    (once nothing keeps them pooled). For a program's start: it changes the whole process.
    True where it took effect."""
    with _lock:
        if _state["pooling"]:
            _state["returning"] = _glibc() is not None  # applied when the pooling ends
        else:
            _state["returning"] = _set(RETURNED)
        return _state["returning"]


@contextmanager
def pooled_big_blocks(then_give_back: bool = True) -> Iterator[None]:
    """While torch trains, blocks up to 32 MiB are kept for reuse, as glibc would by itself;
    afterwards new big blocks are mapped again once the heap's free space is used up, and
    with ``then_give_back`` the heap's free pages go back to the system. Without it they
    stay for the next time: the reranker's numpy scoring of a query's top 50 frees and
    re-requests a few MB each query, and mapping them afresh made it 39.7 → 62.1 ms a query
    (100k photos). Nothing changes unless ``return_big_blocks`` was called."""
    pool_big_blocks()
    try:
        yield
    finally:
        with _lock:
            _state["pooling"] -= 1
            if _state["pooling"] == 0 and _state["returning"]:
                _set(RETURNED)
                if then_give_back:
                    give_back()


def pool_big_blocks() -> None:
    """Keep blocks up to 32 MiB for reuse for the rest of the process: for one where torch
    computes the embeddings (13 % slower inference with big blocks returned: ViT-B-32-256,
    97 against 86 ms a photo)."""
    with _lock:
        _state["pooling"] += 1
        if _state["pooling"] == 1 and _state["returning"]:
            _set(POOLED)


def give_back() -> None:
    """Return the heap's free pages to the system now (``malloc_trim``). Training steps
    free activations of shapes that never quite repeat (texts differ in length), which
    the arenas keep: the reranker's head grew the process by ~1 GB over 16 steps on a
    4,000-photo library (bench model) until it called this after each step; it walks every
    arena, ~4 ms against a step of ~0.5 s."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
