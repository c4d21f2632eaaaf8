"""Decode photos in worker threads or processes while the model encodes the previous batch.

A bounded window of outstanding jobs keeps memory flat for any library size (each prepared
224-px photo is ~0.6 MB) while keeping workers busy. With ``workers=0`` decoding runs inline
(useful on one core, and for debugging).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from photofind.library.decode import PreparedPhoto, PrepSpec, prepare_photo


def default_workers() -> int:
    """A core less than there are, and at least two decoders: a 12-MP JPEG takes
    ~38 ms to decode even at 1/8 scale, as long as the int8 model takes for it, so on 2
    cores one decoder left the model waiting (50 12-MP photos: 4.7 s with one, 4.0 s with
    two; small photos the same either way)."""
    return max(2, (os.cpu_count() or 2) - 1)


class DecodePool:
    """A reusable pool of decoders: threads, or processes (spawned once: forking a process
    that has started torch's thread pools is unsafe).

    Threads where the model runs on the CPU: Pillow and numpy release the GIL while they
    decode, resize and normalise, the model needs the cores anyway, and no process holds
    its own Python, numpy and Pillow or pickles 786 KB of pixels a photo across. Measured
    with ViT-B-32-256 on 2 cores, 2 decoders: 1,000 Flickr8k photos 12.73 → 13.23 img/s,
    peak 661 → 553 MB (summed over the process tree); 200 12-MP photos 9.74 → 10.04 img/s,
    653 → 542 MB. Processes where an accelerator runs the model and decoding is the work
    left for the CPU: there the parts of a decode that hold the GIL (metadata, Python) would
    stop the decoders scaling with the cores."""

    def __init__(self, workers: int | None = None):
        self.workers = default_workers() if workers is None else workers
        self._executor: Executor | None = None

    def _pool(self, processes: bool) -> Executor:
        if isinstance(self._executor, ProcessPoolExecutor) != processes:
            self.close()
        if self._executor is None and not processes:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="decoder")
        elif self._executor is None:
            context = multiprocessing.get_context("spawn")
            with signals_held():  # every decoder starts here, so no later submit starts one
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context,
                                                     initializer=follow_parent,
                                                     initargs=(os.getpid(),))
                for _ in range(self.workers):  # the executor starts a process per submit
                    self._executor.submit(os.getpid)  # while it has fewer than it may
        return self._executor

    def prepare(self, raw_paths: Iterable[bytes], spec: PrepSpec, window: int = 64,
                processes: bool = True) -> Iterator[PreparedPhoto]:
        """Yield prepared photos in input order, decoding ahead by at most ``window``, in
        decoder ``processes`` or threads (see the class)."""
        if self.workers <= 0:
            yield from (prepare_photo(path, spec) for path in raw_paths)
            return
        pool, pending = self._pool(processes), deque()
        for path in raw_paths:
            pending.append(pool.submit(prepare_photo, path, spec))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            try:
                executor.shutdown(cancel_futures=True)
            except RuntimeError:  # interrupted while starting: its workers follow_parent()
                pass


@contextlib.contextmanager
def signals_held():
    """Ctrl+C and SIGTERM wait while a child process may be starting, then act as usual.
    Acted on in the middle of a spawn (a KeyboardInterrupt raised inside ``start()``), they
    cut the child's start-up data short, and the child printed a traceback ("Ran out of
    input") on the person's terminal (fault sweep: ``index`` stopped by SIGTERM, 1 run in
    ~20). Only the main thread can hold them; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, lambda n, _frame: caught.append(n))
                for number in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])  # now acted on by the handler it was meant for


PARENT_CHECK_S = 0.5


def follow_parent(parent_pid: int) -> None:
    """Decoder-process start-up: exit when the process that started it is gone. A parent
    killed with -9 (or crashed) cannot shut its pool down; without this its decoders, and
    the multiprocessing resource tracker they keep alive, lived on and held the caller's
    stdout open, so ``out=$(photofind index …)`` never returned."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()
