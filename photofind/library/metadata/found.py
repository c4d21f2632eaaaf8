"""``Found``: what one photo and its sidecars yielded, gathered by the readers before junk
filtering and the choice of date; every reader's failure lands in its warnings."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from defusedxml import DefusedXmlException
from PIL import Image

from photofind.library.metadata.dates import iso_date
from photofind.library.metadata.texts import MAX_TEXT_CHARS, TextItem, cap_text, clean

# the top of a hierarchical keyword whose leaves are people's names ("People|Emma")
PERSON_ROOTS = frozenset({"people", "persons", "person", "faces"})


@dataclass
class Found:
    """What one photo and its sidecars yielded, before junk filtering and date choice."""

    texts: list[TextItem] = field(default_factory=list)
    dates: dict[str, str] = field(default_factory=dict)  # source -> ISO date; first one wins
    warnings: list[str] = field(default_factory=list)
    make: str | None = None
    model: str | None = None
    gps: tuple[float, float] | None = None

    def add(self, kind: str, text: object, source: str, file: str, path: tuple = ()) -> None:
        """Keep a text if there is any left after cleaning, at most ``MAX_TEXT_CHARS`` of it:
        every reader adds through here, so no file can put a 10 MB caption in the catalog."""
        if text := clean(text):
            text = cap_text(text, f"{kind} from {source} in {file}", self.warnings.append)
            self.texts.append(TextItem(kind, text, source, file, path))

    def add_path(self, parts: list[str], source: str, file: str) -> None:
        """A hierarchical keyword: its leaf is the text, a leaf under "People" is a person."""
        path = tuple(part for part in map(clean, parts) if part)
        if not path:
            return
        under_people = path[0].casefold() in PERSON_ROOTS
        if len(path) == 1 and under_people:
            return  # the bare "People" category is no name
        if (length := len("|".join(path))) > MAX_TEXT_CHARS:  # the catalog keeps it joined
            self.warnings.append(f"keyword path from {source} in {file} was {length:,} "
                                 "characters long; kept only its last part")
            path = (path[-1][:MAX_TEXT_CHARS],)
        self.add("person" if under_people else "tag", path[-1], source, file, path)

    def add_date(self, source: str, value: object, offset: object = None) -> None:
        """A date candidate; blank ones are skipped, impossible ones reported."""
        try:
            iso = iso_date(value, offset)
        except ValueError as error:
            self.warnings.append(f"{source}: {error}")
            return
        if iso:
            self.dates.setdefault(source, iso)

    def guard(self, what: str, read: Callable[..., Any], *args: Any) -> None:
        """Run one reader; whatever a parser throws at bad data becomes a warning."""
        try:
            read(*args)
        except DefusedXmlException as error:  # XXE, entity bombs: refused, and said so
            self.warnings.append(f"{what} not read: unsafe XML (it declares entities or a "
                                 f"DTD, which can hide an attack; {type(error).__name__})")
        except Exception as error:  # third-party parsers raise anything on corrupt input
            self.warnings.append(f"{what}: {type(error).__name__}: {error}")


_IGNORED_PILLOW_WARNINGS = (ResourceWarning, DeprecationWarning, Image.DecompressionBombWarning)


@contextmanager
def pillow_warnings(found: Found) -> Iterator[None]:
    """Turn Pillow's warnings ("Possibly corrupt EXIF data ...") into metadata warnings.

    warnings.catch_warnings() is process-global: when several threads read at once, a
    warning may land in another photo's list, but nothing is lost or raised.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if not issubclass(warning.category, _IGNORED_PILLOW_WARNINGS):
            found.warnings.append(f"Pillow: {warning.message}")
