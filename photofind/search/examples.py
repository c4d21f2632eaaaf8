"""A query that names one of the owner's tags also looks like the photos carrying it.

The owner has already shown what "Biscuit" or "daisy" means to them: the photos they tagged.
The model cannot know "Biscuit" and knows "daisy" only in general, so a query that is just
a tag (or person) name searches for its words and the look of those photos together: the
unit text vector plus the unit mean of the tagged photos' vectors, equal parts. Untagged
photos that look like the tagged ones come up; the tagged ones themselves are found by their
words anyway (``hybrid``).

Measured on the bench library (benchmarks/README.md, "A tag's photos as examples"), mAP
over the untagged photos of each tag, 3 seeds: the plain model 31.1 → 50.8 with the tag
words and 11.8 → 55.2 with made-up names; after "Adapt to my library" 81.1 → 84.2 and
77.7 → 81.8. Equal parts did as well as the best weight after adapting (0.5–1 of the words'),
and more weight helped only the plain model: no weight is learnt, so nothing here can
overfit a library. The mean of the photos did within 0.8 of the best per-photo score tried
(each photo's nearest tagged photo, which needs every photo scored, not one index search).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_EXAMPLES = 2  # a tag on one photo is a note about it, not yet a kind of photo
MAX_EXAMPLES = 500  # spread over the tag's photos: their mean is as good as of all
TEMPLATE = "a photo of "


def tag_name(query: str) -> str | None:
    """The tag a query may name: the query itself, spaces tidied, without a leading
    "a photo of " (the text the evaluation and the concept words use); None if empty."""
    text = " ".join(query.split())
    if text.casefold().startswith(TEMPLATE):
        text = text[len(TEMPLATE):]
    return text or None


@dataclass(frozen=True)
class Examples:
    """The look of a tag's photos: their unit mean, and how close the least typical of them
    is to the look of the others (an untagged photo of the kind is like one more tagged
    photo left out, so a photo at least that close looks like them)."""

    look: np.ndarray
    floor: float
    count: int  # photos carrying the tag (the look is of up to MAX_EXAMPLES of them)

    @classmethod
    def of(cls, vectors: np.ndarray, count: int | None = None) -> Examples:
        vectors = np.asarray(vectors, dtype=np.float32)
        others = vectors.sum(axis=0)[None] - vectors  # each photo's "the others" (sum)
        closeness = (vectors * others).sum(axis=1) / np.maximum(
            np.linalg.norm(others, axis=1), 1e-12)
        return cls(_unit(vectors.mean(axis=0)), float(closeness.min()),
                   len(vectors) if count is None else count)

    def direction(self, query: np.ndarray) -> np.ndarray:
        """The query's unit vector plus the examples' look, renormalised."""
        return _unit(_unit(np.asarray(query, dtype=np.float32)) + self.look)

    def alike(self, vectors: np.ndarray) -> np.ndarray:
        """Which of these photos look like the examples (as close to their look as the
        least typical example)."""
        return np.asarray(vectors, dtype=np.float32) @ self.look >= self.floor


def spread(ids: list[int], most: int = MAX_EXAMPLES) -> list[int]:
    """At most ``most`` of ``ids``, evenly spread (not the first ones: a tag used for
    years would be judged by its oldest photos)."""
    step = max(1, -(-len(ids) // most))
    return ids[::step][:most]


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
