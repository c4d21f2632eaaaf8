"""Hybrid ranking: the vector ranking fused with caption/tag text matches.

Reciprocal rank fusion (Cormack et al. 2009) needs no score calibration between cosine
similarity and BM25: a photo tagged "Emma" rises for "Emma at the beach" even though the
model does not know Emma, while photos without any text match keep their vector order.
"""

from __future__ import annotations

import re

import numpy as np

RRF_K = 60
DEFAULT_TOP_K = 50  # candidates a reranker re-scores
STOPWORDS = frozenset(
    "a an and are at by for from in into is it of on or the to with photo photos picture "
    "pictures image images".split())


def fts_query(text: str) -> str | None:
    """An FTS5 OR-query of the meaningful words as prefixes ("dog" finds "dogs"; "桜" finds
    "桜の下で", which unicode61 keeps as one token). Quoted, so no FTS syntax leaks in."""
    words = [w for w in re.findall(r"\w[\w'’-]*", text.casefold()) if w not in STOPWORDS]
    return " OR ".join(f'"{w}"*' for w in dict.fromkeys(words)) or None


def fuse(vector_ranked: list[int], text_ranked: list[int]) -> list[int]:
    """Photo ids by reciprocal rank fusion; ties keep the vector order."""
    scores: dict[int, float] = {}
    for ranking in (vector_ranked, text_ranked):
        for rank, photo_id in enumerate(ranking):
            scores[photo_id] = scores.get(photo_id, 0.0) + 1.0 / (RRF_K + rank + 1)
    position = {pid: i for i, pid in enumerate(vector_ranked)}
    return sorted(scores, key=lambda pid: (-scores[pid], position.get(pid, len(position))))


def rerank(hits: list[tuple[int, float]], bonus: np.ndarray
           ) -> list[tuple[int, float, float]]:
    """Reorder retrieved (id, cosine) by cosine + bonus; only these k photos move."""
    fused = [(pid, cos, float(b)) for (pid, cos), b in zip(hits, bonus)]
    return sorted(fused, key=lambda item: -(item[1] + item[2]))
