"""Queries that combine, weigh and exclude: ``beach + 2:./kayak.jpg - people``.

A query is terms joined by `` + `` and `` - `` (the signs stand alone, between spaces, so
"t-shirt", "2-year-old" and "+33 phone" stay words). A term is a text, or the path of an
image file; ``N:`` before it weighs it (``2:sunset``, ``0.5:./dog.jpg``). The query's
direction is the weighted sum of its positive terms minus that of its negative ones: photos
like a negative term are pushed down, as in rclip. Nothing here loads a model.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_SPLIT = re.compile(r"(?:^|\s+)([+-])\s+")
_WEIGHT = re.compile(r"^(?P<weight>\d+(?:\.\d*)?|\.\d+):(?P<rest>\S.*)$", re.S)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif", ".tif",
                            ".tiff", ".bmp", ".gif"})


class QueryError(ValueError):
    """A query that cannot be run, with what to change."""


@dataclass(frozen=True)
class Term:
    weight: float  # negative: push away
    text: str | None = None
    image: Path | None = None

    @property
    def label(self) -> str:
        return str(self.image) if self.image is not None else self.text or ""


def parse(query: str, is_image=None) -> list[Term]:
    """The terms of ``query`` in order. ``is_image(text)`` tells an image path from words
    (default: an existing file with a photo's extension)."""
    is_image = is_image or looks_like_image
    parts = _SPLIT.split(" " + query.strip())
    terms, sign = [], 1.0
    # parts: [first, sign, term, sign, term, ...]; the first may be empty ("- people")
    for position, part in enumerate(parts):
        if position % 2 == 1:
            sign = 1.0 if part == "+" else -1.0
            continue
        part = part.strip()
        if not part:
            if position:  # "beach + + sea", "sunset -" at the end
                raise QueryError(f"a '{parts[position - 1]}' in “{query.strip()}” has no term "
                                 "after it")
            continue
        weight, body = _weighted(part)
        if is_image(body):
            terms.append(Term(sign * weight, image=Path(os.path.expanduser(body))))
        else:
            terms.append(Term(sign * weight, text=body))
        sign = 1.0
    if not any(term.weight > 0 for term in terms):
        raise QueryError("the query has nothing to look for: give at least one term without "
                         "a '-' (e.g. “beach - people”)")
    return terms


def _weighted(part: str) -> tuple[float, str]:
    match = _WEIGHT.match(part)
    if not match:
        return 1.0, part
    weight = float(match["weight"])
    if weight <= 0:
        raise QueryError(f"the weight of “{part}” must be above 0 (a '-' excludes a term)")
    return weight, match["rest"].strip()


def looks_like_image(text: str) -> bool:
    path = Path(os.path.expanduser(text))
    return path.suffix.casefold() in IMAGE_SUFFIXES and path.is_file()


def is_plain(terms: list[Term]) -> bool:
    """One text with weight 1: the ordinary query (the re-ranker and fusion apply as ever)."""
    return len(terms) == 1 and terms[0].text is not None and terms[0].weight == 1.0


HELP = """A query may combine terms: `beach + 2:./kayak.jpg - people`. Terms are words or the
path of an image file, joined by ' + ' (also like this) and ' - ' (less like this), each
optionally weighed with 'N:' (2:sunset). A quoted phrase ('"exit 12"') asks for photos whose
text, caption or tags hold it; after ' - ' it excludes them. Start a query with '-' after
`--`."""
