"""One number a person can read: how well a result matches, 0-100, in the order shown.

The order of a text search is not the cosine's order: caption, tag and text-in-photo matches
are fused in by rank, and the reranker moves the top. A raw cosine (0.23, sometimes
negative) shown next to that order looks wrong and means nothing to a person. The
relevance maps the cosine onto 0-100 (CLIP-like models put an unrelated photo near
``FLOOR`` and a close match near ``CEILING``), then makes it follow the order: each result
shows at least what every result below it shows, so a photo that its words lifted to the top
never shows less than the ones it overtook.
"""

from __future__ import annotations

FLOOR, CEILING = 0.05, 0.35  # cosines shown as 0 and as 100
WORDS_MATCH = 50  # the least shown for a photo whose caption, tags or text hold the words


def from_cosine(cosine: float) -> float:
    return 100.0 * min(1.0, max(0.0, (cosine - FLOOR) / (CEILING - FLOOR)))


def relevances(cosines: list[float | None], words_matched: list[bool] | None = None
               ) -> list[int | None]:
    """0-100 for results in their shown order (None where there is no score: browsing);
    never increasing down the list. A result whose words matched the query (or that holds
    its quoted phrase) shows at least ``WORDS_MATCH``: "Match 0" next to a photo whose
    caption says exactly what was asked would be wrong."""
    shown: list[int | None] = [None] * len(cosines)
    words_matched = words_matched or [False] * len(cosines)
    best_below = 0.0
    for i in range(len(cosines) - 1, -1, -1):
        if cosines[i] is None:
            continue
        own = from_cosine(cosines[i])
        best_below = max(best_below, max(own, WORDS_MATCH) if words_matched[i] else own)
        shown[i] = round(best_below)
    return shown
