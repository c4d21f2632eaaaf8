"""What a text is (``TextItem``, ``PhotoMetadata``) and the helpers every reader uses on raw
values: cleaning, decoding bytes of unknown encoding, and telling a person's text from what a
camera or app wrote by itself."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("caption", "title", "tag", "person")  # also the order of PhotoMetadata.texts
CSV_SOURCE = "csv-import"  # source name for TextItems built from read_captions_csv()
# The longest caption or tag kept, in characters. Far above anything a person writes about a
# photo (a long caption is a few hundred), low enough that a runaway sidecar or a log pasted
# into a spreadsheet cell cannot bloat the catalog: a 10 MB .txt once grew it to 43 MB.
MAX_TEXT_CHARS = 64 * 1024


@dataclass(frozen=True)
class TextItem:
    """One piece of text a person attached to a photo, and where it was found."""

    kind: str  # one of KINDS
    text: str
    source: str  # field it came from, e.g. "xmp:dc:description", "iptc:Keywords", "txt-sidecar"
    file: str  # the photo, or the sidecar the text was read from
    hierarchy: tuple[str, ...] = ()  # full keyword path of hierarchical tags: ("People", "Emma")


@dataclass
class PhotoMetadata:
    """Everything read for one photo; ``warnings`` lists the problems met on the way."""

    texts: list[TextItem]
    taken_at: str | None  # ISO 8601, with a UTC offset when the source had one
    taken_at_source: str  # e.g. "exif:DateTimeOriginal" or "file-mtime"; "" when unknown
    camera_make: str | None
    camera_model: str | None
    gps: tuple[float, float] | None  # (lat, lon) in signed decimal degrees
    sidecars: list[str]  # sidecar files read: their mtimes decide when to read again
    warnings: list[str]


# Texts cameras and apps write by themselves (compared casefolded): noise for search.
JUNK_TEXTS = frozenset(
    {
        "olympus digital camera",
        "konica minolta digital camera",
        "sony dsc",
        "dcim",
        "<default caption>",
        "default",
        "image",
        "picture",
        "photo",
        "screenshot",
        "untitled",
        "no title",
        "created with gimp",
        "applemark",  # old Apple imaging software stamps this into JPEG comments
        "acd systems digital imaging",
        "optimized by jpegmini",
    }
)
_JUNK_PATTERN = re.compile(
    r"(?:[\w-]+ ){0,3}digital (?:still )?camera"  # "SANYO DIGITAL CAMERA" and kin
    r"|[0-9a-f]{32,}"  # hashes some apps leave in comments
    r"|(?:created|edited|comment) (?:with|in|by) gimp.*|lead technologies.*"  # editors' stamps
    r"|file written by adobe photoshop.*|creator: gd-jpeg.*|intel\(r\) jpeg library.*"
    r"|(?:img|dsc[nf]?|pict|p|dcp|_mg|cimg)[_-]?\d{3,}(?:\.\w{3,4})?",  # camera file names
)


def comparable(text: str) -> str:
    """Comparison form: whitespace collapsed, NULs dropped, casefolded."""
    return " ".join(text.replace("\x00", " ").split()).casefold()


def is_junk(text: str, make: str | None = None, model: str | None = None) -> bool:
    """True for text a camera or app wrote by itself rather than a person (or no text at all)."""
    norm = comparable(text)
    if not any(unicodedata.category(char)[0] in "LNS" for char in norm):
        return True  # blank, NULs or punctuation only
    if norm in JUNK_TEXTS or _JUNK_PATTERN.fullmatch(norm):
        return True
    camera = {comparable(make or ""), comparable(model or ""),
              comparable(f"{make or ''} {model or ''}")}
    return norm in camera


def clean(value: object) -> str:
    """The text people meant: first NUL-terminated chunk, no surrounding blanks; '' if no text."""
    if not isinstance(value, str):
        return ""
    chunks = [chunk for chunk in value.split("\x00") if chunk.strip()]
    return chunks[0].strip() if chunks else ""


def cap_text(text: str, what: str, note: Callable[[str], object]) -> str:
    """``text`` cut to ``MAX_TEXT_CHARS``; when it had to be cut, ``note`` gets one line
    saying so, naming ``what`` was cut (say "caption from txt-sidecar in a.txt"): every reader
    of a person's text goes through here, so each says the same and none keeps more."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    note(f"{what} was {len(text):,} characters long; shortened to the first "
         f"{MAX_TEXT_CHARS:,}")
    return text[:MAX_TEXT_CHARS]


def decode(data: bytes, encodings: tuple[str, ...] = ("utf-8", "latin-1")) -> str:
    """Bytes of unknown encoding: the first encoding that fits, the last one never fails."""
    for encoding in encodings[:-1]:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return data.decode(encodings[-1], "replace")


def exif_str(value: object) -> str:
    """An EXIF ASCII value as text: Pillow decodes it as Latin-1, but writers use UTF-8."""
    if isinstance(value, bytes):
        return decode(value)
    if not isinstance(value, str):
        return ""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value
