"""Per-photo token grids for the reranker: one float16 memory-mapped file per model key.

Row ``photo_id`` holds that photo's 16×D tokens; a one-byte-per-row ``.valid`` file says
which rows were written. Like the embeddings they belong to a model key, so a model change
starts a new file and never mixes token spaces.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import numpy as np

TOKENS = 16


class TokenStore:
    def __init__(self, folder: Path, model_key: str, dim: int):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", model_key).strip("-")
        folder.mkdir(parents=True, exist_ok=True)
        self.data_path, self.valid_path = folder / f"{slug}.f16", folder / f"{slug}.valid"
        self.dim, self.row_bytes = dim, TOKENS * dim * 2
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        for path in (self.data_path, self.valid_path):
            path.touch(exist_ok=True)
        # rows both files hold (after a failed growth, the shorter one counts)
        rows = min(self.valid_path.stat().st_size, self.data_path.stat().st_size // self.row_bytes)
        self.capacity = rows
        self._data = np.memmap(self.data_path, np.float16, "r+",
                               shape=(rows, TOKENS, self.dim)) if rows else None
        self._valid = np.memmap(self.valid_path, np.uint8, "r+", shape=(rows,)) if rows else None

    def _grow(self, needed: int) -> None:
        """Make room for ``needed`` rows. The space is allocated on disk now: a memory map
        over a sparse file dies of SIGBUS (no message, no cleanup) when a later write finds
        the disk full, where allocating raises ``OSError(ENOSPC)`` here, which is handled."""
        rows = max(needed, 1024, int(self.capacity * 1.5))
        self.flush()
        self._data = self._valid = None
        try:
            _allocate(self.data_path, rows * self.row_bytes)
            _allocate(self.valid_path, rows)
        finally:
            self._open()

    def put(self, ids, tokens: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        if not len(ids):
            return
        with self._lock:
            if int(ids.max()) >= self.capacity:
                self._grow(int(ids.max()) + 1)
            self._data[ids] = tokens.astype(np.float16)
            self._valid[ids] = 1

    def get(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """(tokens n×16×D float16, which rows are valid)."""
        ids = np.asarray(ids, np.int64)
        out = np.zeros((len(ids), TOKENS, self.dim), np.float16)
        with self._lock:
            inside = ids < self.capacity
            valid = np.zeros(len(ids), bool)
            if self._valid is not None:
                valid[inside] = self._valid[ids[inside]] == 1
                out[valid] = self._data[ids[valid]]
        return out, valid

    def drop(self, ids) -> None:
        ids = np.asarray(ids, np.int64)
        with self._lock:
            if self._valid is not None:
                self._valid[ids[ids < self.capacity]] = 0

    def flush(self) -> None:
        for array in (self._data, self._valid):
            if array is not None:
                array.flush()

    def remove_files(self) -> None:
        self._data = self._valid = None
        for path in (self.data_path, self.valid_path):
            if path.exists():
                os.remove(path)


def _allocate(path: Path, size: int) -> None:
    """Extend ``path`` to ``size`` bytes of allocated disk space (never shrink it); on a full
    disk the file keeps its old size and ENOSPC is raised."""
    with open(path, "r+b") as handle:
        old = os.fstat(handle.fileno()).st_size
        if size <= old:
            return
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(handle.fileno(), old, size - old)
            else:  # macOS, Windows: write the zeros
                handle.seek(old)
                for start in range(old, size, 1 << 20):
                    handle.write(bytes(min(1 << 20, size - start)))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            handle.truncate(old)
            raise
