"""What the grid and the detail pane ask of the library, as plain functions (no Qt), so the
worker threads stay thin and the core's newer features are wired in exactly one place.

Hooks for core features that may not have landed yet (feature-detected, never assumed):
``photofind.core.SearchFilters`` + ``search(filters=...)`` and
``PhotoLibrary.photo_details(photo_id)``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from photofind.library import paths
from photofind.library.catalog import PhotoRow

BROWSE_LIMIT = 2000  # photos shown (in the order they were added) when there is no query
OVERFETCH = 5  # without core filters, a folder-limited search fetches k × this and filters


@dataclass(frozen=True)
class Query:
    text: str = ""
    image: str | None = None  # "find similar": a photo path
    folder: str | None = None  # limit to one library folder
    min_score: float | None = None
    k: int = 200

    @property
    def browsing(self) -> bool:
        return not self.image and not self.text.strip()


@dataclass
class Hit:
    photo: PhotoRow
    score: float | None  # None while browsing


def run_query(lib, query: Query) -> list[Hit]:
    """Search (or browse) the library; an empty library gives no hits, not an error."""
    if query.browsing:
        return browse(lib, query.folder)
    if not lib.catalog.counts()["photos"]:
        return []
    filters = _core_filters(lib, query.folder)
    post_filter = bool(query.folder) and filters is None
    extra = {"filters": filters} if filters is not None else {}
    results = lib.search(text=query.text.strip() or None, image=query.image,
                         k=query.k * (OVERFETCH if post_filter else 1),
                         min_score=query.min_score, **extra)
    if post_filter:
        results = [r for r in results if paths.under(r.path, query.folder)][:query.k]
    return [Hit(r.photo, r.score) for r in results]


def browse(lib, folder: str | None = None, limit: int = BROWSE_LIMIT) -> list[Hit]:
    where, args = "error IS NULL", []
    if folder:
        where += " AND (path=? OR path LIKE ? ESCAPE '\\')"
        args += [folder, paths.folder_like_pattern(folder)]
    rows = lib.catalog.photos(f"{where} ORDER BY id LIMIT ?", [*args, limit])
    return [Hit(row, None) for row in rows]


def _core_filters(lib, folder: str | None):
    """The core's ``SearchFilters(folder=...)`` when both it and ``search(filters=)`` exist."""
    if not folder:
        return None
    from photofind import core

    filters_type = getattr(core, "SearchFilters", None)
    if filters_type is None or "filters" not in inspect.signature(lib.search).parameters:
        return None
    return filters_type(folder=folder)


@dataclass
class PhotoInfo:
    """What the detail pane shows: facts as (label, value) and texts as (kind, text, source)."""

    facts: list[tuple[str, str]]
    texts: list[tuple[str, str, str]] = field(default_factory=list)


def describe(lib, row: PhotoRow) -> PhotoInfo:
    details = lib.photo_details(row.id) if hasattr(lib, "photo_details") else None
    taken = _get(details, "taken_at") or row.taken_at
    camera = " ".join(p for p in (row.camera_make, row.camera_model) if p) or \
        _get(details, "camera")
    size = f"{row.width} × {row.height} px, " if row.width and row.height else ""
    facts = [("Path", row.path), ("Date", _date(taken) if taken else "unknown"),
             ("Camera", camera or "unknown"), ("Size", f"{size}{_megabytes(row.size)}")]
    return PhotoInfo(facts, _texts(details))


def _texts(details) -> list[tuple[str, str, str]]:
    """Captions/tags from ``photo_details``, whatever shape the core gives them: a ``texts``
    list, or ``captions`` + ``tags`` lists; items as objects, dicts, tuples or strings."""
    texts = _get(details, "texts")
    pairs = [("text", item) for item in texts] if texts is not None else \
        [("caption", item) for item in _get(details, "captions") or []] + \
        [("tag", item) for item in _get(details, "tags") or []]
    out = [_text_item(item, kind) for kind, item in pairs]
    return [t for t in out if t[1]]


def _text_item(item, kind: str) -> tuple[str, str, str]:
    if isinstance(item, str):
        return kind, item, ""
    if isinstance(item, (tuple, list)):
        return str(item[0]), str(item[1]), str(item[2]) if len(item) > 2 else ""
    return (str(_get(item, "kind") or kind), str(_get(item, "text") or ""),
            str(_get(item, "source") or ""))


def _get(obj, name: str):
    if obj is None:
        return None
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _date(value: str) -> str:
    return str(value).replace("T", " ")[:19]


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"
