"""hnswlib index over normalised photo embeddings (inner product = cosine).

The catalog is the source of truth; this file is a cache of it. It is saved atomically
(temp file + rename) together with a small JSON stamp naming the model key and the catalog's
``embedding_version`` it reflects; a missing, corrupt or stale file is rebuilt from the
catalog's stored vectors, which costs no re-encoding.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import hnswlib
import numpy as np


@dataclass(frozen=True)
class HnswParams:
    M: int = 16
    ef_construction: int = 200
    # Search-time breadth. On 100k vectors drawn like the bench model's real embeddings
    # (benchmarks/bench_search.py), recall@10 is 0.94 at ef=128 and 0.98 at 256 for +0.4 ms.
    ef: int = 256
    # Recall falls as the graph grows (1M such vectors: 0.89 at ef=256, 0.96 at 512 for
    # +1.4 ms): from this many photos on, search twice as broadly.
    large_library: int = 300_000

    def ef_for(self, size: int) -> int:
        return 2 * self.ef if size >= self.large_library else self.ef


class VectorIndex:
    """Thread-safe wrapper: labels are catalog photo ids."""

    def __init__(self, dim: int, params: HnswParams = HnswParams(), capacity: int = 1024):
        self.dim, self.params = dim, params
        self._lock = threading.RLock()
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(max_elements=max(capacity, 16), ef_construction=params.ef_construction,
                               M=params.M, allow_replace_deleted=True)
        self._index.set_ef(params.ef)
        self._live: set[int] = set()

    # -- building -------------------------------------------------------------------------
    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, dim: int,
              params: HnswParams = HnswParams()) -> VectorIndex:
        index = cls(dim, params, capacity=max(1024, int(len(ids) * 1.25)))
        index.add(ids, vectors)
        return index

    def add(self, ids, vectors) -> None:
        """Add or replace vectors (re-embedded photos keep their label)."""
        ids = np.asarray(ids, np.int64)
        if not len(ids):
            return
        vectors = np.asarray(vectors, np.float32).reshape(len(ids), self.dim)
        with self._lock:
            for label in set(ids.tolist()) & self._deleted_labels():
                self._index.unmark_deleted(label)
            needed = self._index.element_count + len(ids)
            if needed > self._index.max_elements:
                self._index.resize_index(max(needed, int(self._index.max_elements * 1.5)))
            self._index.add_items(vectors, ids)
            self._live.update(ids.tolist())

    def remove(self, ids) -> None:
        with self._lock:
            for label in np.asarray(ids, np.int64).tolist():
                if label in self._live:
                    self._index.mark_deleted(label)
                    self._live.discard(label)

    def _deleted_labels(self) -> set[int]:
        return set(self._index.get_ids_list()) - self._live

    # -- querying -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._live)

    @property
    def ids(self) -> set[int]:
        with self._lock:
            return set(self._live)

    @property
    def ef(self) -> int:
        """The search breadth (hnswlib's ef) the last search ran with."""
        with self._lock:
            return self._index.ef

    def search(self, query: np.ndarray, k: int, allowed: Callable[[int], bool] | None = None,
               ef: int | None = None) -> list[tuple[int, float]]:
        """Top-k (photo id, cosine score), best first. ``allowed`` filters labels in-graph;
        ``ef`` overrides the breadth ``params`` choose for this size (never below k)."""
        with self._lock:
            k = min(k, len(self._live))
            if k <= 0:
                return []
            self._index.set_ef(max(ef or self.params.ef_for(len(self._live)), k))
            query = np.asarray(query, np.float32).reshape(1, self.dim)
            try:
                labels, distances = self._index.knn_query(query, k=k, filter=allowed)
            except RuntimeError:  # fewer than k elements pass the filter
                labels, distances = self._fewer(query, k, allowed)
        return [(int(lbl), float(1.0 - dist)) for lbl, dist in zip(labels[0], distances[0])]

    def _fewer(self, query, k, allowed):
        for smaller in range(k - 1, 0, -1):
            try:
                return self._index.knn_query(query, k=smaller, filter=allowed)
            except RuntimeError:
                continue
        return np.zeros((1, 0), np.int64), np.zeros((1, 0), np.float32)

    def vector(self, label: int) -> np.ndarray:
        return self.vectors([label])[0]

    def vectors(self, labels) -> np.ndarray:
        with self._lock:
            return np.asarray(self._index.get_items(list(labels)), np.float32)

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: Path, stamp: dict) -> None:
        """Atomic: write beside, fsync, rename; the stamp is renamed last."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with self._lock:
            self._index.save_index(str(tmp))
            stamp = {**stamp, "dim": self.dim, "count": len(self._live),
                     "params": asdict(self.params), "live": sorted(self._live)}
        _fsync(tmp)
        os.replace(tmp, path)
        _atomic_write_text(stamp_path(path), json.dumps(stamp))

    @classmethod
    def load(cls, path: Path, params: HnswParams = HnswParams()) -> tuple[VectorIndex, dict]:
        """Load an index and its stamp; raises (OSError, ValueError, RuntimeError) if unusable."""
        path = Path(path)
        stamp = json.loads(stamp_path(path).read_text())
        self = cls.__new__(cls)
        self.dim, self.params = int(stamp["dim"]), params
        self._lock = threading.RLock()
        self._index = hnswlib.Index(space="ip", dim=self.dim)
        self._index.load_index(str(path), allow_replace_deleted=True)
        self._index.set_ef(params.ef)
        self._live = {int(i) for i in stamp["live"]}
        if not self._live <= set(self._index.get_ids_list()):
            raise ValueError("index file does not match its stamp")
        return self, stamp


def stamp_path(index_path: Path) -> Path:
    return Path(index_path).with_suffix(".json")


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    _fsync(tmp)
    os.replace(tmp, path)
