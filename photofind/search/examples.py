"""A query that names one of the owner's tags also looks like the photos carrying it.

The owner has already shown what "Biscuit" or "daisy" means to them: the photos they tagged,
and, as much, the photos they tagged as something else. The model cannot know "Biscuit" and
knows "daisy" only in general, so a query that is just a tag (or person) name searches for
its words and for what sets the tag's photos apart, in one index search:

- the tag's *sign*: the direction that best tells its photos from the others (photos with
  other tags, and the rest of the library; up to 500 each from a spread sample of 5,000), a
  shrunk linear discriminant (Fisher's LDA with the covariance pulled towards the identity,
  the more so the fewer the examples; closed form, nothing trained, no time to wait);
- words and sign mixed in units of their own spread over the sample, so the mix does not
  depend on the model's cosine scale: the sign counts ``SIGN_WEIGHT`` times the words;
- the words count only as far as they tell the tag's photos from the others themselves
  (fully from a gap of ``WORDS_TRUSTED_AT`` spreads): "daisy" does, a pet's made-up name
  means nothing to the model and would only add noise to the sign.

Untagged photos of the kind come up; the tagged ones are found by their words anyway
(``hybrid``). Measured on the bench library (benchmarks/README.md, "A tag's photos as
examples"), mAP over the untagged photos of each tag, 3 seeds: the plain model 31.1 → 50.8
with the photos' mean look, → 86.2 with the sign (made-up names 11.8 → 55.2 → 85.5); after
"Adapt to my library" 84.2 and 81.8 with the mean, 86.7 and 86.2 with the sign (the seeds
its two settings were chosen on; over nine seeds 85.9 and 85.3). Words trusted as far as
they tell the tag's photos apart: plain model, twelve seeds, made-up names 84.5 → 85.1, the
tags as written unchanged (85.8); with 3 or 10 photos a tag, names +0.3 / +0.6, words
-0.1 / 0.0 (full trust only from 1 spread: names gained more, words lost 0.5 at 3 photos).
Without photos to tell the tag's apart from (every photo carries the tag) the mean look is
used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_EXAMPLES = 2  # a tag on one photo is a note about it, not yet a kind of photo
MAX_EXAMPLES = 500  # spread over the tag's photos: their mean is as good as of all
MAX_OTHERS = 500  # photos told apart from them, of other tags and of the whole library each
SAMPLE = 5000  # the library photos those are drawn from (all of them in smaller libraries)
SIGN_WEIGHT = 4.0  # the sign against the words, in units of each one's spread (3 to 6 tie)
SHRINK_PHOTOS = 100  # the covariance is pulled towards the identity by this / examples
WORDS_TRUSTED_AT = 0.5  # gap (tagged mean − others' mean, in spreads) where words count fully
TEMPLATE = "a photo of "


def tag_name(query: str) -> str | None:
    """The tag a query may name: the query itself, spaces tidied, without a leading
    "a photo of " (the text the evaluation and the concept words use); None if empty."""
    text = " ".join(query.split())
    if text.casefold().startswith(TEMPLATE):
        text = text[len(TEMPLATE):]
    return text or None


@dataclass(frozen=True, eq=False)
class Examples:
    """What a tag's photos look like: their unit mean (``look``) and how close the least
    typical of them is to the look of the others (an untagged photo of the kind is like one
    more tagged photo left out, so a photo at least that close looks like them); and, given
    photos to tell them from, the tag's sign (module docstring)."""

    look: np.ndarray
    floor: float
    count: int  # photos carrying the tag (the look is of up to MAX_EXAMPLES of them)
    sign: np.ndarray | None = None
    others: np.ndarray | None = None  # the photos told apart, to scale a query's words
    centre: np.ndarray | None = None  # the examples' mean (not unit): how words score them

    @classmethod
    def of(cls, vectors: np.ndarray, count: int | None = None,
           others: np.ndarray | None = None) -> Examples:
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) < MIN_EXAMPLES:
            raise ValueError(f"a tag's look needs at least {MIN_EXAMPLES} photos")
        summed = vectors.sum(axis=0)[None] - vectors  # each photo's "the others" (sum)
        closeness = (vectors * summed).sum(axis=1) / np.maximum(
            np.linalg.norm(summed, axis=1), 1e-12)
        sign = None
        if others is not None and len(others) >= MIN_EXAMPLES:
            others = np.asarray(others, dtype=np.float32)
            sign = _discriminant(vectors, others)
        return cls(_unit(vectors.mean(axis=0)), float(closeness.min()),
                   len(vectors) if count is None else count, sign,
                   others if sign is not None else None, vectors.mean(axis=0))

    def direction(self, query: np.ndarray) -> np.ndarray:
        """Where a query naming the tag searches: its words (as far as they are trusted)
        plus the tag's sign, each in units of its spread over the other photos; the words
        plus the look without them."""
        words = _unit(np.asarray(query, dtype=np.float32))
        if self.sign is None or self.others is None:
            return _unit(words + self.look)
        scores = self.others @ words
        return _unit(self._trust(words, scores) * words / _spread(scores) +
                     SIGN_WEIGHT * self.sign / _spread(self.others @ self.sign))

    def trust(self, words: np.ndarray) -> float:
        """How much the words count next to the sign, 0 to 1: how far they score the
        examples above the other photos, in spreads of the others' scores, up to
        ``WORDS_TRUSTED_AT``. A made-up name scores the tag's photos no higher than any
        other (-0.1 to 0.6 spreads on the bench library), a real word 0.8 to 1."""
        if self.others is None:
            return 1.0
        words = np.asarray(words, dtype=np.float32)
        return self._trust(words, self.others @ words)

    def _trust(self, words: np.ndarray, scores: np.ndarray) -> float:
        """``trust`` given the others' ``scores`` for the words (``direction`` has them)."""
        if self.centre is None:
            return 1.0
        gap = (float(self.centre @ words) - float(scores.mean())) / _spread(scores)
        return min(max(gap / WORDS_TRUSTED_AT, 0.0), 1.0)

    def alike(self, vectors: np.ndarray) -> np.ndarray:
        """Which of these photos look like the examples (as close to their look as the
        least typical example)."""
        return np.asarray(vectors, dtype=np.float32) @ self.look >= self.floor


def _discriminant(tagged: np.ndarray, others: np.ndarray) -> np.ndarray | None:
    """The unit direction that best separates ``tagged`` from ``others``: Σ⁻¹(μ₁ − μ₀), the
    pooled covariance Σ scaled to mean variance 1 plus λ·I, λ = ``SHRINK_PHOTOS`` / the
    number of examples (a few photos cannot pin down hundreds of dimensions: with 3 tagged
    photos a fixed λ = 3 ranked worse than their mean look, λ = 33 better; with 40, λ ≈ 2.5
    does best). None when they cannot be told apart."""
    tagged, others = tagged.astype(np.float64), others.astype(np.float64)
    gap = tagged.mean(axis=0) - others.mean(axis=0)
    centred = np.vstack([tagged - tagged.mean(axis=0), others - others.mean(axis=0)])
    covariance = centred.T @ centred / max(len(centred) - 1, 1)
    scale = float(np.trace(covariance)) / len(gap)
    if scale <= 1e-12 or float(np.linalg.norm(gap)) <= 1e-9:
        return None
    shrink = SHRINK_PHOTOS / len(tagged)
    sign = np.linalg.solve(covariance / scale + shrink * np.eye(len(gap)), gap)
    return _unit(sign)


def _spread(scores: np.ndarray) -> float:
    return max(float(np.std(scores)), 1e-6)


def spread(ids: list[int], most: int = MAX_EXAMPLES) -> list[int]:
    """At most ``most`` of ``ids``, evenly spread (not the first ones: a tag used for
    years would be judged by its oldest photos)."""
    step = max(1, -(-len(ids) // most))
    return ids[::step][:most]


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
