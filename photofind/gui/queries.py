"""What the grid and the detail pane ask of the library, as plain functions (no Qt), so the
worker threads stay thin and the library (``PhotoLibrary``) is called in exactly one place."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field, replace

from photofind.library.catalog import PhotoRow
from photofind.library.catalog.texts import OWN
from photofind.search import terms as query_terms
from photofind.search.filters import SearchFilters
from photofind.search.relevance import FLOOR
from photofind.services.searching import SearchResult

# results fetched at a time; scrolling near the end fetches the next page (no upper limit)
SEARCH_PAGE, BROWSE_PAGE = 200, 1000
Hit = SearchResult  # what the grid shows: the library's result as is (score None when listing)
# View › Sort by: order -> menu text. None is the search's own order: best first, and newest
# first when filters alone list photos (all photos: in the order they were indexed).
SORT_ORDERS = {None: "Best match", "newest": "Date taken, newest first",
               "oldest": "Date taken, oldest first", "name": "File name"}
ORDER_WORDS = {"newest": "newest first", "oldest": "oldest first", "name": "by file name"}
# a query sorted by date or name sorts its good matches, at most this many, fetched at once:
# sorting pages one by one would put a newer photo found on page 2 after page 1's older ones
SORTED_MATCHES = 1000


@dataclass(frozen=True)
class Query:
    text: str = ""
    image: str | None = None  # "find similar": a photo path
    filters: SearchFilters = SearchFilters()  # the sidebar's folder is filters.folder
    min_score: float | None = None
    k: int = SEARCH_PAGE  # how many results are asked for (grows a page at a time)
    order: str | None = None  # a key of SORT_ORDERS

    @property
    def sorted_matches(self) -> bool:
        """Words or a photo, shown by date or name: one list, not pages."""
        return self.order is not None and not self.browsing

    @property
    def browsing(self) -> bool:
        """No words and no example photo: photos are listed, not ranked."""
        return not self.image and not self.text.strip()

    @property
    def folder(self) -> str | None:
        return self.filters.folder


def run_query(lib, query: Query) -> list[Hit]:
    """Search or list the library; an empty library gives no hits, not an error. One more
    than ``query.k`` is asked for, so the window knows whether a next page exists."""
    if query.browsing and not replace(query.filters, folder=None).active():
        # in indexing order unless another is chosen: a folder being indexed grows at the end
        return lib.browse(query.folder, query.k + 1, query.order)
    if query.browsing:  # filters alone: the matching photos, newest first unless chosen
        return lib.search(filters=query.filters, k=query.k + 1, order=query.order)
    if not lib.catalog.counts()["photos"]:
        return []
    text = query.text.strip() or None
    if query.sorted_matches:  # the good matches (a relevance above 0 at least), then sorted
        floor = max(query.min_score or 0.0, FLOOR)
        return lib.search(text=text, image=query.image, k=query.k, min_score=floor,
                          filters=query.filters, order=query.order)
    return lib.search(text=text, image=query.image, k=query.k + 1,
                      min_score=query.min_score, filters=query.filters)


def library_summary(lib) -> dict:
    """``lib.status()`` plus the tag names and folders the filter bar offers, in one
    background call."""
    return {**lib.status(), "tags": lib.catalog.tag_names(),
            "folders": lib.catalog.photo_folders()}


def folder_tree(roots: list[str], folders: list[str]) -> list[tuple[str, int]]:
    """(path, depth) of each root and every folder under it that holds photos, with the
    folders between them, in tree order: what the folder filter lists, indented."""
    rows = []
    for root in roots:
        base = root.rstrip(os.sep)
        inside = set()
        for folder in folders:
            if folder.startswith(base + os.sep):
                parts = folder[len(base) + 1:].split(os.sep)
                inside.update(os.sep.join(parts[:n]) for n in range(1, len(parts) + 1))
        rows.append((root, 0))
        rows += [(base + os.sep + rel, rel.count(os.sep) + 1)
                 for rel in sorted(inside, key=lambda r: r.split(os.sep))]
    return rows


def describe_filters(filters: SearchFilters) -> str:
    """The active filters (the folder aside) in words, for the results header."""
    parts = []
    if filters.date_from or filters.date_to:
        parts.append(f"{filters.date_from or '…'} – {filters.date_to or '…'}")
    if filters.camera:
        parts.append(f"camera “{filters.camera}”")
    if filters.tag:
        parts.append(f"tagged “{filters.tag}”")
    if filters.has_caption is not None:
        parts.append("with a caption" if filters.has_caption else "without a caption")
    if filters.has_text:
        parts.append("with text in the photo")
    return ", ".join(parts)


def short_query(text: str) -> str:
    """A query as a header shows it: photos that are terms by their file name, not their
    whole path ("dog + IMG_0042.jpg - IMG_0050.jpg")."""
    try:
        terms = query_terms.parse(text)
    except query_terms.QueryError:
        return text.strip()
    parts = []
    for term in terms:
        label = term.image.name if term.image is not None else term.text
        weight = "" if abs(term.weight) == 1 else f"{abs(term.weight):g}:"
        sign = ("- " if term.weight < 0 else "+ ") if parts or term.weight < 0 else ""
        parts.append(f"{sign}{weight}{label}")
    return " ".join(parts)


def results_header(query: Query, count: int, more: bool = False, tag_photos: int = 0) -> str:
    """The line above the grid (HTML): what was asked, where, and how many answered; for a
    tag's name, that photos looking like the ``tag_photos`` tagged ones were found too."""
    where = f" in {html.escape(os.path.basename(query.folder))}" if query.folder else ""
    filtered = html.escape(describe_filters(query.filters))
    where += f" · {filtered}" if filtered else ""
    order = ORDER_WORDS.get(query.order or ("newest" if filtered else ""))
    order = f", {order}" if order else ""
    if query.sorted_matches and count >= SORTED_MATCHES:
        matches = f"The {count:,} best matches"  # say that these are not all of them
    else:
        matches = f"{count:,} match{'' if count == 1 else 'es'}"
    if query.image:
        name = html.escape(os.path.basename(query.image))
        text = f"Photos like <b>{name}</b>{where}{order} · <a href='clear'>clear</a>"
    elif query.browsing:
        text = f"All photos · {count:,}{order}" if not where else \
            f"{count:,} photo{'' if count == 1 else 's'}{where}{order}"
    else:
        words = html.escape(short_query(query.text))
        text = f"{matches} for <b>“{words}”</b>{where}{order or ', best first'}"
        if tag_photos:
            text += f", with photos that look like the {tag_photos:,} you tagged"
    if more:  # a next page exists
        text += " · more as you scroll"
    return text


@dataclass
class PhotoInfo:
    """What the detail pane shows: facts as (label, value), texts as (kind, text, origin)."""

    facts: list[tuple[str, str]]
    texts: list[tuple[str, str, str]] = field(default_factory=list)


def describe(lib, row: PhotoRow) -> PhotoInfo:
    """Facts and texts of one photo, each date and text with where it was read."""
    details = lib.photo_details(row.id)
    if details is None:  # removed since the grid was filled
        return PhotoInfo([("Path", row.path), ("Status", "no longer in the library")])
    facts = [("Path", details["path"]), ("Date", _date(details))]
    facts.append(("Camera", _camera(details["camera_make"], details["camera_model"])))
    if details["gps_lat"] is not None and details["gps_lon"] is not None:
        facts.append(("GPS", f"{details['gps_lat']:.5f}, {details['gps_lon']:.5f}"))
    size = f"{details['width']} × {details['height']} px, " if details["width"] else ""
    facts.append(("Size", f"{size}{_megabytes(details['size'])}"))
    if details["index_status"] != "indexed":
        facts.append(("Status", details["index_status"]))
    if not os.path.exists(details["path"]) and row.root_id in lib.catalog.offline_roots():
        facts.append(("Status", "its drive or folder is not connected now"))
    for warning in details["meta_warnings"]:  # e.g. an unsafe XMP sidecar left unread
        facts.append(("Note", warning))
    texts = [(t["kind"], t["text"], _origin(t, details["path"])) for t in details["texts"]]
    return PhotoInfo(facts, texts)


def _camera(make: str | None, model: str | None) -> str:
    """"Canon EOS 80D", not "Canon Canon EOS 80D": most models already name their make."""
    if make and model and model.casefold().startswith(make.casefold()):
        return model
    return " ".join(p for p in (make, model) if p) or "unknown"


def _date(details: dict) -> str:
    if not details["taken_at"]:
        return "unknown"
    source = details["taken_at_source"]
    source = "file date" if source == "file-mtime" else source
    when = details["taken_at"].replace("T", " ")[:19]
    return f"{when} ({source})" if source else when


def _origin(text: dict, photo_path: str) -> str:
    """"caption — xmp:dc:description (photo.xmp)": the field, and the file when it is not
    the photo itself (a sidecar, an imported table)."""
    if text["kind"] == "ocr":
        return "read in the photo"
    if text["source"] == OWN:
        return f"{text['kind']} — written by you in photofind"
    origin = f"{text['kind']} — {text['source']}"
    if text["file"] and text["file"] != photo_path:
        origin += f" ({os.path.basename(text['file'])})"
    if text["hierarchy"] and "|" in text["hierarchy"]:
        origin += " · " + text["hierarchy"].replace("|", " › ")
    return origin


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"


def summary_text(status: dict, model: str) -> tuple[str, str]:
    """The status bar's library summary, and the notices behind it (a restored catalog, a
    damaged adaptation) for its tooltip: one line each."""
    unreadable = f" · {status['errors']:,} unreadable" if status["errors"] else ""
    text = f"{status['photos']:,} photos{unreadable} · model: {model}"
    warnings = status.get("warnings") or []
    if warnings:
        notices = "1 notice" if len(warnings) == 1 else f"{len(warnings)} notices"
        text += f" · ⚠ {notices} (point here to read)"
    return text, "\n".join(w[:1].upper() + w[1:] + "." for w in warnings)
