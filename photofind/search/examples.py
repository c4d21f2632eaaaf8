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

import numpy as np

MIN_EXAMPLES = 2  # a tag on one photo is a note about it, not yet a kind of photo
MAX_EXAMPLES = 500  # the mean of 500 is as good as of 20,000, and read in ~1 ms
TEMPLATE = "a photo of "


def tag_name(query: str) -> str | None:
    """The tag a query may name: the query itself, spaces tidied, without a leading
    "a photo of " (the text the evaluation and the concept words use); None if empty."""
    text = " ".join(query.split())
    if text.casefold().startswith(TEMPLATE):
        text = text[len(TEMPLATE):]
    return text or None


def with_examples(query: np.ndarray, examples: np.ndarray) -> np.ndarray:
    """The direction to search: the query's unit vector plus the unit mean of the example
    photos' vectors, renormalised."""
    text = np.asarray(query, dtype=np.float32)
    text = text / max(float(np.linalg.norm(text)), 1e-12)
    look = np.asarray(examples, dtype=np.float32).mean(axis=0)
    look = look / max(float(np.linalg.norm(look)), 1e-12)
    both = text + look
    return (both / max(float(np.linalg.norm(both)), 1e-12)).astype(np.float32)
