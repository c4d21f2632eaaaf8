"""A rerank signal from the owner's own words: the captions and tags of the labelled photos
that look most like a candidate vote for it (k-nearest-neighbour caption transfer).

A query such as "a boy jumps into the pool" is compared with what the owner wrote on photos
that resemble each candidate, so a candidate is lifted when photos like it were described in
those words. A candidate's own texts are left out: the keyword match already uses them, and
leaving them out scores captioned and uncaptioned photos alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

K_CHOICES = (3, 10)  # neighbours, tried on validation
TAU_CHOICES = (0.02, 0.05)  # softmax temperature over the neighbours' image similarity


@dataclass
class NeighbourTexts:
    """The labelled photos (ids, image vectors) and their texts as unit vectors, grouped by
    photo: texts ``starts[i]`` up to ``starts[i + 1]`` belong to photo ``i``."""

    photo_ids: np.ndarray
    photo_vectors: np.ndarray
    text_vectors: np.ndarray
    starts: np.ndarray
    k: int = 3
    tau: float = 0.05

    def __post_init__(self):  # float16 on disk, float32 in memory: numpy has no fp16 BLAS
        self.photo_vectors = np.asarray(self.photo_vectors, dtype=np.float32)
        self.text_vectors = np.asarray(self.text_vectors, dtype=np.float32)

    @classmethod
    def build(cls, encode_texts, photo_ids, photo_vectors: np.ndarray,
              texts: list[list[str]]) -> NeighbourTexts:
        """Photos (ids, image vectors) and each one's texts, at least one each."""
        flat = [text for own in texts for text in own]
        starts = np.cumsum([0] + [len(own) for own in texts[:-1]])
        text_vectors = np.concatenate([encode_texts(flat[i:i + 256])
                                       for i in range(0, len(flat), 256)])
        return cls(np.asarray(photo_ids, dtype=np.int64), photo_vectors, text_vectors,
                   starts.astype(np.int64))

    def scores(self, query: np.ndarray, candidate_ids, candidate_vectors: np.ndarray
               ) -> np.ndarray:
        """How well each candidate's look-alikes' texts match the query (cosine units)."""
        # torch, not numpy, for the products: numpy's BLAS threads keep spinning afterwards
        # and slowed the next query's text forward 5× (benchmarks/bench_search.py)
        best_text = np.maximum.reduceat(
            (torch.from_numpy(self.text_vectors) @ torch.from_numpy(query)).numpy(), self.starts)
        similarity = (torch.from_numpy(candidate_vectors) @
                      torch.from_numpy(self.photo_vectors).T).numpy()
        similarity[np.asarray(candidate_ids)[:, None] == self.photo_ids[None, :]] = -np.inf
        k = min(self.k, len(self.photo_ids) - 1)
        if k < 1:
            return np.zeros(len(candidate_vectors), dtype=np.float32)
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(similarity, nearest, axis=1)
        weights = np.exp((near - near.max(axis=1, keepdims=True)) / self.tau)
        weights /= weights.sum(axis=1, keepdims=True)
        return (weights * best_text[nearest]).sum(axis=1).astype(np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        return {"photo_ids": self.photo_ids, "starts": self.starts,
                "photo_vectors": self.photo_vectors.astype(np.float16),
                "text_vectors": self.text_vectors.astype(np.float16)}
