"""Search filters, combinable with any query and usable with none. The catalog turns them
into SQL (``photofind.library.catalog.criteria``)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class SearchFilters:
    date_from: str | None = None  # ISO date or datetime, inclusive
    date_to: str | None = None  # ISO date or datetime, inclusive (a bare date = whole day)
    folder: str | None = None
    camera: str | None = None  # substring of "make model", case-insensitive
    tag: str | None = None  # a tag or person name, exact, case-insensitive
    has_caption: bool | None = None
    has_text: bool | None = None  # text was read in the photo (signs, screens, labels)

    def active(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))
