"""numpy's BLAS on one thread, for the small products of a query (the re-ranker's head and
look-alikes' texts). A multi-threaded OpenBLAS call leaves its threads spinning for a while
after it returns, and they took the cores from the next query's ONNX Runtime text forward
(5x slower, ``benchmarks/bench_search.py``); one thread does these products in a few ms.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

_controller = None


def one_thread() -> AbstractContextManager:
    """``with one_thread(): ...``: numpy's BLAS limited to one thread inside."""
    global _controller
    if _controller is None:  # looks up the loaded BLAS libraries once (~1 ms)
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
