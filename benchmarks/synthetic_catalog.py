"""A big library without photos, for the benchmarks that time catalog and index work at
100k photos: each photo a catalog row with a stored vector and the texts given."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def fill(lib, vectors: np.ndarray, texts: Callable[[int], list]) -> float:
    """Save one photo per row of ``vectors`` (unit vectors of the library's model width)
    with ``texts(i)`` (``TextItem``s) into ``lib``'s catalog, in one transaction; returns
    the seconds it took. The index is built from these stored vectors when first used."""
    key = lib.model_key
    start = time.monotonic()
    with lib.catalog.transaction() as db:
        for i, vector in enumerate(vectors):
            raw = f"/photos/{i // 1000:03d}/photo-{i:06d}.jpg".encode()
            photo_id = lib.catalog.save_photo(db, None, raw, {
                "size": 1, "mtime": 0.0, "content_hash": f"{i:032x}", "width": 1,
                "height": 1, "error": None})
            lib.catalog.set_embedding(db, photo_id, key, vector)
            lib.catalog.add_texts(db, photo_id, texts(i))
    return time.monotonic() - start


def unit_vectors(count: int, width: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, width)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
