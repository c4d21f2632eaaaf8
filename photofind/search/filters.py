"""Search filters, combinable with any query and usable with none: one SQL WHERE clause."""

from __future__ import annotations

from dataclasses import dataclass, fields

from photofind.library import paths


@dataclass(frozen=True)
class SearchFilters:
    date_from: str | None = None  # ISO date or datetime, inclusive
    date_to: str | None = None  # ISO date or datetime, inclusive (a bare date = whole day)
    folder: str | None = None
    camera: str | None = None  # substring of "make model", case-insensitive
    tag: str | None = None  # a tag or person name, exact, case-insensitive
    has_caption: bool | None = None

    def active(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def where(self) -> tuple[str, list]:
        """SQL over ``photos`` (aliased as the table itself) and its texts."""
        clauses, args = ["photos.error IS NULL"], []
        if self.date_from:
            clauses.append("photos.taken_at >= ?")
            args.append(self.date_from)
        if self.date_to:
            clauses.append("photos.taken_at < ?")
            args.append(_end_of(self.date_to))
        if self.folder:
            text = paths.to_text(self.folder)
            clauses.append("(photos.path = ? OR photos.path LIKE ? ESCAPE '\\')")
            args += [text, paths.folder_like_pattern(text)]
        if self.camera:
            clauses.append("(COALESCE(photos.camera_make,'') || ' ' || "
                           "COALESCE(photos.camera_model,'')) LIKE ?")
            args.append(f"%{self.camera}%")
        if self.tag:
            clauses.append("EXISTS (SELECT 1 FROM texts t WHERE t.photo_id = photos.id AND "
                           "t.kind IN ('tag','person') AND t.text = ? COLLATE NOCASE)")
            args.append(self.tag)
        if self.has_caption is not None:
            clauses.append(("" if self.has_caption else "NOT ") +
                           "EXISTS (SELECT 1 FROM texts t WHERE t.photo_id = photos.id AND "
                           "t.kind IN ('caption','title'))")
        return " AND ".join(clauses), args


def _end_of(date: str) -> str:
    """Exclusive upper bound: a bare date covers its whole day."""
    return date + "T99" if len(date) == 10 else date + "\uffff"
