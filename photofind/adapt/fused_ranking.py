"""Validation metrics of many rerank fusions of one ranking, each at the cost of its top k.

Choosing the reranker's fusion weights scores ~100 weight choices on the same validation
queries. Scored from scratch, each choice sorted every query's whole gallery again (at
4,000 photos: ~2,800 caption queries × 3,000 photos per choice) though a fusion only
reorders each query's top k and lifts it above the rest. Here the positions of the
relevant photos outside the top k, and their share of average precision, are worked out
once; a fusion then costs one sort of a queries × k array.
"""

from __future__ import annotations

import numpy as np

from photofind.adapt.judging import relevant_positions, summary_metrics


class FusedRanking:
    """The ranking of ``similarity`` (queries × gallery) with each query's ``top`` columns
    (queries × k, best first) reordered by a bonus, as the search path fuses them. ``top``
    must be the first k columns of ``np.argsort(-similarity, axis=1)`` (checked): the
    positions below it come from that same sort."""

    def __init__(self, similarity: np.ndarray, top: np.ndarray, gallery: list[int],
                 relevant: list[set[int]]):
        index = {pid: i for i, pid in enumerate(gallery)}
        wanted = [sorted(index[p] for p in want if p in index) for want in relevant]
        self.used = np.asarray([i for i, w in enumerate(wanted) if w], dtype=np.int64)
        self.k = top.shape[1]
        self.top = top[self.used]
        self.base = np.take_along_axis(similarity[self.used], self.top, 1)
        self.hit = np.stack([np.isin(row, wanted[i]) for row, i in zip(self.top, self.used)]) \
            if len(self.used) else np.zeros((0, self.k), dtype=bool)
        self.groups = [str(wanted[i]) for i in self.used]
        inside = self.hit.sum(1)
        total = np.asarray([len(wanted[i]) for i in self.used])
        below = relevant_positions(similarity[self.used], [wanted[i] for i in self.used])
        if not np.array_equal(inside, [int((b <= self.k).sum()) for b in below]):
            raise ValueError("top must be the first k columns of argsort(-similarity)")
        # relevant photos below the top k keep their positions (beyond k): their precision
        # terms depend only on how many relevant photos the top k holds, which no fusion
        # changes
        self.below_first = np.asarray([b[b > self.k][0] if (b > self.k).any() else np.inf
                                       for b in below])
        self.below_ap = np.asarray([np.sum((inside[n] + np.arange(1, (b > self.k).sum() + 1))
                                           / b[b > self.k]) for n, b in enumerate(below)])
        self.total = total

    def metrics(self, bonus: np.ndarray) -> dict:
        """Validation metrics (with per item, for ``judge``) after reordering each query's
        top k by similarity + ``bonus`` (queries × k; zeros = the plain ranking)."""
        order = np.argsort(-(self.base + bonus[self.used]), axis=1, kind="stable")
        hit = np.take_along_axis(self.hit, order, 1)
        ranks = np.arange(1, self.k + 1)
        precision = np.cumsum(hit, 1) / ranks
        aps = (np.sum(precision * hit, 1) + self.below_ap) / np.maximum(self.total, 1)
        firsts = np.where(hit.any(1), np.argmax(hit, 1) + 1, self.below_first)
        return summary_metrics(firsts.astype(np.int64), aps.tolist(), self.groups, items=True)
