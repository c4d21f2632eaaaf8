"""Which photos a filter keeps, as SQL: the catalog's half of ``photofind.search.filters``.

The filter itself (what a person can ask for) lives with search; turning it into a WHERE
clause is the catalog's business, so that no SQL lives outside this package.
"""

from __future__ import annotations

from typing import Protocol

from photofind.library import paths


class PhotoCriteria(Protocol):
    """What a filter may ask for; ``photofind.search.filters.SearchFilters`` is one, and
    says what each field means."""

    date_from: str | None
    date_to: str | None
    folder: str | None
    camera: str | None
    tag: str | None
    has_caption: bool | None
    has_text: bool | None


def where_clause(criteria: PhotoCriteria) -> tuple[str, list]:
    """SQL over ``photos`` (aliased as the table itself) and its texts: readable photos
    that meet every criterion."""
    clauses, args = ["photos.error IS NULL"], []
    if criteria.date_from:
        clauses.append("photos.taken_at >= ?")
        args.append(criteria.date_from)
    if criteria.date_to:
        clauses.append("photos.taken_at < ?")
        args.append(_end_of(criteria.date_to))
    if criteria.folder:
        text = paths.to_text(criteria.folder)
        clauses.append("(photos.path = ? OR photos.path LIKE ? ESCAPE '\\')")
        args += [text, paths.folder_like_pattern(text)]
    if criteria.camera:
        clauses.append("(COALESCE(photos.camera_make,'') || ' ' || "
                       "COALESCE(photos.camera_model,'')) LIKE ?")
        args.append(f"%{criteria.camera}%")
    if criteria.tag:
        clauses.append("EXISTS (SELECT 1 FROM texts t WHERE t.photo_id = photos.id AND "
                       "t.kind IN ('tag','person') AND t.text = ? COLLATE NOCASE)")
        args.append(criteria.tag)
    if criteria.has_caption is not None:
        clauses.append(("" if criteria.has_caption else "NOT ") +
                       "EXISTS (SELECT 1 FROM texts t WHERE t.photo_id = photos.id AND "
                       "t.kind IN ('caption','title'))")
    if criteria.has_text is not None:
        clauses.append(("" if criteria.has_text else "NOT ") +
                       "EXISTS (SELECT 1 FROM texts t WHERE t.photo_id = photos.id AND "
                       "t.kind = 'ocr')")
    return " AND ".join(clauses), args


def _end_of(date: str) -> str:
    """Exclusive upper bound: a bare date covers its whole day."""
    return date + "T99" if len(date) == 10 else date + "\uffff"
