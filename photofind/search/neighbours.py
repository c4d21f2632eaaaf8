"""A rerank signal from the owner's own words: the captions and tags of the labelled photos
that look most like a candidate vote for it (k-nearest-neighbour caption transfer).

A query such as "a boy jumps into the pool" is compared with what the owner wrote on photos
that resemble each candidate, so a candidate is lifted when photos like it were described in
those words. A candidate's own texts are left out: the keyword match already uses them, and
leaving them out scores captioned and uncaptioned photos alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from photofind.search.blas import one_thread

K_CHOICES = (3, 10)  # neighbours, tried on validation
TAU_CHOICES = (0.02, 0.05)  # softmax temperature over the neighbours' image similarity
MAX_NEIGHBOUR_PHOTOS = 5000


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
              texts: list[list[str]], cancel=None, seconds: float | None = None,
              batch: int = 128) -> NeighbourTexts | None:
        """Photos (ids, image vectors) and each one's texts, at least one each; None when
        ``cancel`` is cancelled between batches of texts. With ``seconds``, encoding stops
        at the first batch that ends past it and only the photos whose texts were all
        encoded are kept (pass the photos in random order to keep a random sample).
        Batches of 128: with 256 the torch text tower's activations took a 4,000-photo
        library's Adapt to its peak memory."""
        flat = [text for own in texts for text in own]
        ends = np.cumsum([len(own) for own in texts])
        started, batches, encoded = time.perf_counter(), [], 0
        while encoded < len(flat):
            if cancel is not None and cancel.cancelled:
                return None
            batches.append(encode_texts(flat[encoded:encoded + batch]))
            encoded += len(batches[-1])
            if seconds is not None and time.perf_counter() - started >= seconds:
                break
        kept = int(np.searchsorted(ends, encoded, side="right"))
        vectors = np.concatenate(batches)[:ends[kept - 1] if kept else 0]
        starts = np.concatenate([[0], ends[:kept - 1]]) if kept else np.zeros(0)
        return cls(np.asarray(photo_ids[:kept], dtype=np.int64), photo_vectors[:kept],
                   vectors, starts.astype(np.int64))

    def scores(self, query: np.ndarray, candidate_ids, candidate_vectors: np.ndarray
               ) -> np.ndarray:
        """How well each candidate's look-alikes' texts match the query (cosine units)."""
        nearest, similarity = self.nearest(candidate_ids, candidate_vectors, self.k)
        return self.vote(similarity, self.best_texts(query[None])[0][nearest], self.tau)

    def best_texts(self, queries: np.ndarray) -> np.ndarray:
        """Each labelled photo's best text match with each query (queries × photos)."""
        with one_thread():  # see photofind/search/blas.py
            return np.maximum.reduceat(np.atleast_2d(queries).astype(np.float32)
                                       @ self.text_vectors.T, self.starts, axis=1)

    def nearest(self, candidate_ids, candidate_vectors: np.ndarray, k: int
                ) -> tuple[np.ndarray, np.ndarray]:
        """Each candidate's ``k`` most similar labelled photos other than itself, most
        similar first: (indices into the labelled photos, image similarities), both
        candidates × k (k is capped at the labelled photos less one)."""
        k = min(k, len(self.photo_ids) - 1)
        if k < 1:
            empty = np.zeros((len(candidate_vectors), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        with one_thread():
            similarity = np.asarray(candidate_vectors, dtype=np.float32) @ self.photo_vectors.T
        similarity[np.asarray(candidate_ids)[:, None] == self.photo_ids[None, :]] = -np.inf
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(similarity, nearest, axis=1)
        order = np.argsort(-near, axis=1, kind="stable")
        return np.take_along_axis(nearest, order, 1), np.take_along_axis(near, order, 1)

    @staticmethod
    def vote(similarity: np.ndarray, best_text: np.ndarray, tau: float) -> np.ndarray:
        """Each candidate's look-alikes' best text matches (… × k, from ``nearest`` and
        ``best_texts``) averaged with softmax weights of their image similarity at
        temperature ``tau``; the first k' columns give the vote of k' neighbours."""
        if similarity.shape[-1] == 0:
            return np.zeros(similarity.shape[:-1], dtype=np.float32)
        weights = np.exp((similarity - similarity.max(axis=-1, keepdims=True)) / tau)
        weights /= weights.sum(axis=-1, keepdims=True)
        return (weights * best_text).sum(axis=-1).astype(np.float32)

    def without(self, photo_ids) -> NeighbourTexts:
        """The same, less some photos (validation: the photos whose texts are the queries)."""
        keep = ~np.isin(self.photo_ids, np.asarray(list(photo_ids), dtype=np.int64))
        counts = np.diff(np.append(self.starts, len(self.text_vectors)))
        texts = np.repeat(keep, counts)
        starts = np.cumsum(np.append(0, counts[keep]))[:-1]  # none left: no starts either
        return NeighbourTexts(self.photo_ids[keep], self.photo_vectors[keep],
                              self.text_vectors[texts], starts.astype(np.int64), self.k, self.tau)

    def tensors(self) -> dict[str, np.ndarray]:
        return {"photo_ids": self.photo_ids, "starts": self.starts,
                "photo_vectors": self.photo_vectors.astype(np.float16),
                "text_vectors": self.text_vectors.astype(np.float16)}
