"""Read what people already wrote about their photos: captions, tags, people, date, camera.

Sources: embedded XMP, IPTC IIM, EXIF (incl. Windows XP* tags), PNG text and JPEG/GIF
comments, plus sidecar files (XMP, Google Takeout JSON, a plain ``.txt``) and a caption CSV
a person may import. Photo libraries are full of half-broken metadata, so nothing here
raises for bad metadata: each problem becomes a line in ``PhotoMetadata.warnings`` and the
other sources still count. Files are only ever read, never written.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from stat import S_ISREG
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeElementTree
from PIL import Image, IptcImagePlugin

__all__ = [
    "CSV_SOURCE",
    "JUNK_TEXTS",
    "KINDS",
    "PhotoMetadata",
    "TextItem",
    "is_junk",
    "read_captions_csv",
    "read_metadata",
    "sidecar_paths",
]

KINDS = ("caption", "title", "tag", "person")  # also the order of PhotoMetadata.texts
CSV_SOURCE = "csv-import"  # source name for TextItems built from read_captions_csv()


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


# --- junk filter ---------------------------------------------------------------------------

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


def _norm(text: str) -> str:
    """Comparison form: whitespace collapsed, NULs dropped, casefolded."""
    return " ".join(text.replace("\x00", " ").split()).casefold()


def is_junk(text: str, make: str | None = None, model: str | None = None) -> bool:
    """True for text a camera or app wrote by itself rather than a person (or no text at all)."""
    norm = _norm(text)
    if not any(unicodedata.category(char)[0] in "LNS" for char in norm):
        return True  # blank, NULs or punctuation only
    if norm in JUNK_TEXTS or _JUNK_PATTERN.fullmatch(norm):
        return True
    camera = {_norm(make or ""), _norm(model or ""), _norm(f"{make or ''} {model or ''}")}
    return norm in camera


# --- text and date helpers -----------------------------------------------------------------


def _clean(value: object) -> str:
    """The text people meant: first NUL-terminated chunk, no surrounding blanks; '' if no text."""
    if not isinstance(value, str):
        return ""
    chunks = [chunk for chunk in value.split("\x00") if chunk.strip()]
    return chunks[0].strip() if chunks else ""


def _decode(data: bytes, encodings: tuple[str, ...] = ("utf-8", "latin-1")) -> str:
    """Bytes of unknown encoding: the first encoding that fits, the last one never fails."""
    for encoding in encodings[:-1]:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return data.decode(encodings[-1], "replace")


def _exif_str(value: object) -> str:
    """An EXIF ASCII value as text: Pillow decodes it as Latin-1, but writers use UTF-8."""
    if isinstance(value, bytes):
        return _decode(value)
    if not isinstance(value, str):
        return ""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


_DATE = re.compile(
    r"(\d{4})(?:[:-](\d\d)(?:[:-](\d\d)"
    r"(?:[ T](\d\d):(\d\d)(?::(\d\d)(?:[.,]\d+)?)?)?)?)?"
    r" *(Z|[+-]\d\d?(?::?\d\d)?)?"
)
_ZONE = re.compile(r"([+-])(\d\d?)(?::?(\d\d))?")
_MIN_YEAR = 1800  # anything older is a broken clock, not a photo


def _zone(text: str | None) -> timezone | None:
    """'+09:00' / '-0500' / '+1:00' / 'Z' as a timezone; None when absent or nonsense."""
    if text == "Z":
        return UTC
    match = _ZONE.fullmatch(text or "")
    if not match or int(match[2]) > 23 or int(match[3] or 0) > 59:
        return None
    minutes = int(match[2]) * 60 + int(match[3] or 0)
    return timezone(timedelta(minutes=-minutes if match[1] == "-" else minutes))


def _iso_date(value: object, offset: object = None) -> str | None:
    """EXIF ('2021:04:11 15:47:53') or XMP/ISO ('2021-04-11T15:47:53+09:00') date as ISO 8601.

    None for blank or zeroed dates ("0000:00:00 00:00:00" means "unknown" in EXIF);
    ValueError for anything else that is not a possible date, so it can be reported.
    """
    text = _clean(_exif_str(value))
    if not text.strip("0:-. T"):
        return None
    match = _DATE.fullmatch(text)
    if not match:
        raise ValueError(f"unreadable date {text!r}")
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=_zone(zone) or _zone(_clean(_exif_str(offset))),
        )
    except ValueError:
        moment = None
    if moment is None or moment.year < _MIN_YEAR:
        raise ValueError(f"impossible date {text!r}")
    return moment.isoformat()


def _file_mtime(path: Path) -> str:
    """Modification time in local time with its offset: the date of last resort."""
    moment = datetime.fromtimestamp(path.stat().st_mtime, UTC).astimezone()
    return moment.replace(microsecond=0).isoformat()


# --- gathering ------------------------------------------------------------------------------


@dataclass
class _Found:
    """What one photo and its sidecars yielded, before junk filtering and date choice."""

    texts: list[TextItem] = field(default_factory=list)
    dates: dict[str, str] = field(default_factory=dict)  # source -> ISO date; first one wins
    warnings: list[str] = field(default_factory=list)
    make: str | None = None
    model: str | None = None
    gps: tuple[float, float] | None = None

    def add(self, kind: str, text: object, source: str, file: str, path: tuple = ()) -> None:
        """Keep a text if there is any left after cleaning."""
        if text := _clean(text):
            self.texts.append(TextItem(kind, text, source, file, path))

    def add_path(self, parts: list[str], source: str, file: str) -> None:
        """A hierarchical keyword: its leaf is the text, a leaf under "People" is a person."""
        path = tuple(part for part in map(_clean, parts) if part)
        if not path:
            return
        under_people = path[0].casefold() in _PERSON_ROOTS
        if len(path) > 1 or not under_people:  # the bare "People" category is no name
            self.add("person" if under_people else "tag", path[-1], source, file, path)

    def add_date(self, source: str, value: object, offset: object = None) -> None:
        """A date candidate; blank ones are skipped, impossible ones reported."""
        try:
            iso = _iso_date(value, offset)
        except ValueError as error:
            self.warnings.append(f"{source}: {error}")
            return
        if iso:
            self.dates.setdefault(source, iso)

    def guard(self, what: str, read: Callable[..., Any], *args: Any) -> None:
        """Run one reader; whatever a parser throws at bad data becomes a warning."""
        try:
            read(*args)
        except Exception as error:  # third-party parsers raise anything on corrupt input
            self.warnings.append(f"{what}: {type(error).__name__}: {error}")


_IGNORED_PILLOW_WARNINGS = (ResourceWarning, DeprecationWarning, Image.DecompressionBombWarning)


@contextmanager
def _pillow_warnings(found: _Found) -> Iterator[None]:
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


# --- XMP ------------------------------------------------------------------------------------

_NAMESPACES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xml": "http://www.w3.org/XML/1998/namespace",
    "dc": "http://purl.org/dc/elements/1.1/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}


def _qname(name: str) -> str:
    """'dc:title' in ElementTree's spelling, '{http://purl.org/dc/elements/1.1/}title'."""
    prefix, local = name.split(":")
    return f"{{{_NAMESPACES[prefix]}}}{local}"


_RDF_LI, _RDF_ALT, _XML_LANG = _qname("rdf:li"), _qname("rdf:Alt"), _qname("xml:lang")
_RDF_CONTAINERS = {_RDF_ALT, _qname("rdf:Bag"), _qname("rdf:Seq")}

_XMP_TEXTS = (  # (property, kind), read in this order
    ("dc:description", "caption"),
    ("dc:title", "title"),
    ("photoshop:Headline", "title"),
    ("dc:subject", "tag"),
)
_XMP_HIERARCHIES = (("lr:hierarchicalSubject", "|"), ("digiKam:TagsList", "/"))
_XMP_REGIONS = (("mwg-rs:Name", "mwg-rs:Type"), ("MPReg:PersonDisplayName", None))
_XMP_DATES = ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate")
_PERSON_ROOTS = frozenset({"people", "persons", "person", "faces"})
_PERSON_REGION_TYPES = frozenset({"face", "pet"})  # a pet's name is searched like a person's


def _rdf_values(prop: Element) -> list[str]:
    """Values of one property element: a lang-alt gives x-default (else its first entry)."""
    container = next((child for child in prop if child.tag in _RDF_CONTAINERS), None)
    if container is None:
        return [prop.text or ""]
    items = container.findall(_RDF_LI)
    if container.tag == _RDF_ALT:
        default = [item for item in items if item.get(_XML_LANG) == "x-default"]
        items = (default or items)[:1]
    return [item.text or "" for item in items]


def _xmp_values(root: Element, prop: str) -> list[str]:
    """All values of an XMP property, whether written as attribute or element."""
    name = _qname(prop)
    values = []
    for element in root.iter():
        if name in element.attrib:
            values.append(element.attrib[name])
        if element.tag == name:
            values.extend(_rdf_values(element))
    return values


def _own_value(element: Element, name: str) -> str | None:
    """A simple property of a struct, as attribute of `element` or as its child element."""
    if name in element.attrib:
        return element.attrib[name]
    child = element.find(name)
    return None if child is None else child.text or ""


def _region_names(root: Element, name_prop: str, type_prop: str | None) -> list[str]:
    """Names of image regions showing a face or pet (untyped regions count too)."""
    name_q, type_q = _qname(name_prop), type_prop and _qname(type_prop)
    names = []
    for element in root.iter():
        name = _own_value(element, name_q)
        region_type = _own_value(element, type_q) if type_q else None
        if name is not None and _clean(region_type or "face").casefold() in _PERSON_REGION_TYPES:
            names.append(name)
    return names


def _read_xmp(data: bytes | str, found: _Found, file: str) -> None:
    """Captions, tags, people and dates from one XMP packet (embedded or sidecar)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    root = SafeElementTree.fromstring(data.strip(b"\x00 \t\r\n"))
    for prop, kind in _XMP_TEXTS:
        for value in _xmp_values(root, prop):
            found.add(kind, value, f"xmp:{prop}", file)
    for prop, separator in _XMP_HIERARCHIES:
        for value in _xmp_values(root, prop):
            found.add_path(value.split(separator), f"xmp:{prop}", file)
    for name_prop, type_prop in _XMP_REGIONS:
        for name in _region_names(root, name_prop, type_prop):
            found.add("person", name, f"xmp:{name_prop}", file)
    for prop in _XMP_DATES:
        for value in _xmp_values(root, prop)[:1]:
            found.add_date(f"xmp:{prop}", value)


def _read_xmp_file(path: Path, found: _Found) -> None:
    _read_xmp(path.read_bytes(), found, str(path))


# --- IPTC IIM -------------------------------------------------------------------------------

_IPTC_TEXTS = (  # ((record, dataset), name, kind)
    ((2, 120), "Caption-Abstract", "caption"),
    ((2, 105), "Headline", "title"),
    ((2, 25), "Keywords", "tag"),
)
_IPTC_CHARSET = (1, 90)
_IPTC_UTF8 = b"\x1b%G"  # ISO 2022 escape that declares UTF-8


def _as_list(value: object) -> list:
    """Repeatable fields come as one value or a list of them."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _read_iptc(img: Image.Image, found: _Found, file: str) -> None:
    """IPTC caption, headline and keywords; without a charset record try UTF-8, then Latin-1."""
    info = IptcImagePlugin.getiptcinfo(img) or {}  # type: ignore[arg-type]
    charset = _as_list(info.get(_IPTC_CHARSET))
    encodings = ("utf-8",) if charset[:1] == [_IPTC_UTF8] else ("utf-8", "latin-1")
    for key, name, kind in _IPTC_TEXTS:
        for raw in _as_list(info.get(key)):
            if isinstance(raw, bytes):
                found.add(kind, _decode(raw, encodings), f"iptc:{name}", file)


# --- EXIF -----------------------------------------------------------------------------------

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_MAKE, _MODEL, _DATETIME, _XP_KEYWORDS = 0x010F, 0x0110, 0x0132, 0x9C9E
_DATETIME_ORIGINAL, _OFFSET_TIME, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9010, 0x9011
_USER_COMMENT = 0x9286

# 8-byte character code in front of a UserComment -> encodings to try ("ASCII" is often UTF-8).
_USER_COMMENT_CODES = {
    b"ASCII\x00\x00\x00": ("utf-8", "latin-1"),
    b"JIS\x00\x00\x00\x00\x00": ("shift_jis", "iso2022_jp", "latin-1"),
    b"\x00" * 8: ("utf-8", "latin-1"),  # "undefined"
}


def _xp_text(value: object) -> str:
    """Windows XP* tags: UTF-16LE bytes (sometimes handed over as a tuple of ints)."""
    if isinstance(value, tuple):
        value = bytes(value)
    return value.decode("utf-16-le", "replace") if isinstance(value, bytes) else ""


def _utf16(data: bytes, endian: str | None) -> str:
    """UCS-2/UTF-16 whose byte order the writer may or may not have matched to the EXIF's."""
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return data.decode("utf-16", "replace")
    zeros_high, zeros_low = data[0::2].count(0), data[1::2].count(0)  # ASCII gives them away
    big_endian = zeros_high > zeros_low if zeros_high != zeros_low else endian == ">"
    return data.decode("utf-16-be" if big_endian else "utf-16-le", "replace")


def _user_comment(value: object, endian: str | None) -> str:
    """EXIF UserComment: an 8-byte character code (ASCII, UNICODE, JIS, undefined), then text."""
    if not isinstance(value, bytes):
        return _exif_str(value)
    code, text = value[:8], value[8:]
    if code == b"UNICODE\x00":
        return _utf16(text, endian)
    if code in _USER_COMMENT_CODES:
        return _decode(text, _USER_COMMENT_CODES[code])
    return _decode(value)  # no character code at all: take the bytes as they are


_EXIF_TEXTS = (  # (IFD0 tag, source, kind, decoder)
    (0x010E, "exif:ImageDescription", "caption", _exif_str),
    (0x9C9B, "exif:XPTitle", "title", _xp_text),
    (0x9C9F, "exif:XPSubject", "title", _xp_text),
    (0x9C9C, "exif:XPComment", "caption", _xp_text),
)


def _sub_ifd(exif: Image.Exif, tag: int, name: str, found: _Found) -> dict[int, Any]:
    """A linked IFD (Exif, GPS); a pointer that leads nowhere is reported, not fatal."""
    pointer = exif.get(tag)
    if pointer is None:
        return {}
    ifd = exif.get_ifd(tag)
    if not isinstance(pointer, int):
        found.warnings.append(
            f"EXIF: {name} IFD pointer is a {type(pointer).__name__}, not an offset"
        )
    elif not ifd:
        found.warnings.append(f"EXIF: {name} IFD at offset {pointer} is empty or unreadable")
    return ifd


def _degrees(value: object, ref: object, negative_ref: str, limit: float) -> float | None:
    """(deg, min, sec) rationals and an N/S or E/W ref to signed degrees; None when absent."""
    if value is None:
        return None
    parts = [float(part) for part in (value if isinstance(value, tuple | list) else [value])]
    degrees = sum(part / 60**index for index, part in enumerate(parts[:3]))
    if not math.isfinite(degrees) or min(parts, default=-1) < 0 or degrees > limit:
        raise ValueError(f"impossible coordinate {value!r}")
    if _exif_str(ref).strip().upper().startswith(negative_ref):
        degrees = -degrees
    return round(degrees, 7)


def _read_gps(gps: dict[int, Any], found: _Found) -> None:
    """GPS position; (0, 0) is what receivers without a fix write, so it is ignored."""
    lat = _degrees(gps.get(2), gps.get(1), "S", 90)
    lon = _degrees(gps.get(4), gps.get(3), "W", 180)
    if lat is not None and lon is not None and (lat, lon) != (0, 0):
        found.gps = (lat, lon)


def _read_exif(img: Image.Image, found: _Found, file: str) -> None:
    """Camera, texts, dates and position from EXIF (JPEG, TIFF, HEIF, PNG eXIf, WebP)."""
    exif = img.getexif()
    found.make = _clean(_exif_str(exif.get(_MAKE))) or None
    found.model = _clean(_exif_str(exif.get(_MODEL))) or None
    for tag, source, kind, decode in _EXIF_TEXTS:
        found.add(kind, decode(exif.get(tag)), source, file)
    for keyword in _xp_text(exif.get(_XP_KEYWORDS)).split(";"):
        found.add("tag", keyword, "exif:XPKeywords", file)
    exif_ifd = _sub_ifd(exif, _EXIF_IFD, "Exif", found)
    comment = _user_comment(exif_ifd.get(_USER_COMMENT), exif.endian)
    found.add("caption", comment, "exif:UserComment", file)
    original, offset = exif_ifd.get(_DATETIME_ORIGINAL), exif_ifd.get(_OFFSET_TIME_ORIGINAL)
    found.add_date("exif:DateTimeOriginal", original, offset)
    found.add_date("exif:DateTime", exif.get(_DATETIME), exif_ifd.get(_OFFSET_TIME))
    found.guard("EXIF GPS", _read_gps, _sub_ifd(exif, _GPS_IFD, "GPS", found), found)


# --- PNG text and the embedded sources together --------------------------------------------

_PNG_TEXTS = {"description": "caption", "comment": "caption", "title": "title"}


def _read_png_text(img: Image.Image, found: _Found, file: str) -> None:
    """tEXt/zTXt/iTXt chunks (``img.text`` also finds chunks after the image data)."""
    for key, value in img.text.items():  # type: ignore[attr-defined]
        if kind := _PNG_TEXTS.get(key.casefold()):
            found.add(kind, value, f"png:{key.capitalize()}", file)


def _read_embedded(img: Image.Image, found: _Found, file: str) -> None:
    """Every source inside the image file; XMP first, as the most complete one."""
    if xmp := img.info.get("xmp"):
        found.guard("XMP", _read_xmp, xmp, found, file)
    found.guard("IPTC", _read_iptc, img, found, file)
    found.guard("EXIF", _read_exif, img, found, file)
    if img.format == "PNG":
        found.guard("PNG text", _read_png_text, img, found, file)
    if isinstance(comment := img.info.get("comment"), bytes):  # JPEG COM, GIF comment
        found.add("caption", _decode(comment), f"{(img.format or 'image').lower()}:comment", file)


@cache
def _enable_heif() -> None:
    """Let Pillow open HEIC/HEIF (phone photos) when pillow-heif is installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return
    register_heif_opener()


def _open_and_read(photo: Path, found: _Found) -> None:
    _enable_heif()
    with Image.open(photo) as img:
        _read_embedded(img, found, str(photo))


# --- sidecars -------------------------------------------------------------------------------

# Google Takeout cuts JSON names to ~51 characters, ".json" included, and moves the
# "(1)" of duplicate photos behind the extension: "a(1).jpg" -> "a.jpg(1).json".
_TAKEOUT_CUTS = (46, 47)
_TAKEOUT_DUPLICATE = re.compile(r"(?P<stem>.+)\((?P<n>\d+)\)(?P<ext>\.[^.()]+)?")
_TAKEOUT_EDITED = re.compile(r"-edited(?=\.[^.]+$)", re.IGNORECASE)


def _takeout_candidates(photo: Path) -> list[Path]:
    """Names Google Takeout may have given this photo's JSON, most likely first."""
    name, counter = photo.name, ""
    if match := _TAKEOUT_DUPLICATE.fullmatch(name):
        name, counter = match["stem"] + (match["ext"] or ""), f"({match['n']})"
    names = []
    for base in dict.fromkeys([name, _TAKEOUT_EDITED.sub("", name)]):  # edits share the JSON
        for full in (f"{base}.supplemental-metadata", base):
            names += [full] + [full[:cut] for cut in _TAKEOUT_CUTS if len(full) > cut]
    return [photo.with_name(f"{name}{counter}.json") for name in dict.fromkeys(names)]


def _file_id(path: Path) -> tuple[int, int] | str | None:
    """Identity of an existing regular file, None otherwise (also for names too long)."""
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    if not S_ISREG(info.st_mode):
        return None
    return (info.st_dev, info.st_ino) if info.st_ino else str(path)  # some filesystems lack inodes


def sidecar_paths(photo: Path) -> list[Path]:
    """Existing sidecar files of `photo`, in reading order: XMP, Takeout JSON, ``.txt``.

    XMP sidecars are named ``photo.xmp`` (Lightroom, Capture One) or ``photo.jpg.xmp``
    (darktable, digiKam); a file reachable under two spellings is listed once.
    """
    photo = Path(photo)
    candidates = [photo.with_suffix(suffix) for suffix in (".xmp", ".XMP")]
    candidates += [photo.with_name(photo.name + suffix) for suffix in (".xmp", ".XMP")]
    candidates += _takeout_candidates(photo) + [photo.with_suffix(".txt")]
    found: dict[tuple[int, int] | str, Path] = {}
    for candidate in candidates:
        if candidate != photo and (key := _file_id(candidate)) is not None:
            found.setdefault(key, candidate)
    return list(found.values())


def _read_takeout(path: Path, found: _Found) -> None:
    """Google Takeout JSON: description, tagged people, and the time Google had for it."""
    data = json.loads(path.read_bytes())
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    file = str(path)
    found.add("caption", data.get("description"), "takeout:description", file)
    for person in _as_list(data.get("people")):
        if isinstance(person, dict):
            found.add("person", person.get("name"), "takeout:people", file)
    taken = data.get("photoTakenTime")
    timestamp = int(taken.get("timestamp") or 0) if isinstance(taken, dict) else 0
    if timestamp > 0:
        iso = datetime.fromtimestamp(timestamp, UTC).isoformat()
        found.dates.setdefault("takeout:photoTakenTime", iso)


def _read_txt(path: Path, found: _Found) -> None:
    text = _decode(path.read_bytes(), ("utf-8-sig", "latin-1"))
    found.add("caption", text, "txt-sidecar", str(path))


_SIDECAR_READERS = {".xmp": _read_xmp_file, ".json": _read_takeout, ".txt": _read_txt}


# --- the public readers ---------------------------------------------------------------------

# Preferred first. XMP's copy of DateTimeOriginal outranks EXIF DateTime, which is the time
# of the last edit, not of the shot (Photoshop rewrites it).
_DATE_SOURCES = (
    "exif:DateTimeOriginal",
    "xmp:exif:DateTimeOriginal",
    "xmp:photoshop:DateCreated",
    "exif:DateTime",
    "xmp:xmp:CreateDate",
    "takeout:photoTakenTime",
)
# Same text twice in one family is kept once, as the more specific kind (lower rank).
_FAMILY_RANK = {
    "caption": ("prose", 0),
    "title": ("prose", 1),
    "person": ("label", 0),
    "tag": ("label", 1),
}


def _tidy(texts: list[TextItem], make: str | None, model: str | None) -> list[TextItem]:
    """Drop junk and repeats (the first provenance stays), captions first."""
    kept: dict[tuple[str, str], TextItem] = {}
    for item in texts:
        if is_junk(item.text, make, model):
            continue
        family, rank = _FAMILY_RANK[item.kind]
        old = kept.get((family, _norm(item.text)))
        if old is None or rank < _FAMILY_RANK[old.kind][1]:
            kept[family, _norm(item.text)] = item
    return sorted(kept.values(), key=lambda item: KINDS.index(item.kind))


def _taken_at(found: _Found, photo: Path) -> tuple[str | None, str]:
    for source in _DATE_SOURCES:
        if source in found.dates:
            return found.dates[source], source
    try:
        return _file_mtime(photo), "file-mtime"
    except OSError as error:
        found.warnings.append(f"file: {error}")
        return None, ""


def read_metadata(photo: Path, image: Image.Image | None = None) -> PhotoMetadata:
    """All metadata of `photo` and its sidecars; never raises for bad metadata or files.

    Pass `image` when the photo is open anyway (as returned by Image.open, before any
    transpose or convert, so its info is intact); otherwise the file is opened here.
    Embedded sources are read before sidecars, so repeated texts keep the embedded origin.
    """
    photo = Path(photo)
    found = _Found()
    with _pillow_warnings(found):
        if image is None:
            found.guard("image", _open_and_read, photo, found)
        else:
            found.guard("image", _read_embedded, image, found, str(photo))
    sidecars = sidecar_paths(photo)
    for sidecar in sidecars:
        reader = _SIDECAR_READERS[sidecar.suffix.lower()]
        found.guard(f"sidecar {sidecar.name}", reader, sidecar, found)
    taken_at, taken_at_source = _taken_at(found, photo)
    return PhotoMetadata(
        texts=_tidy(found.texts, found.make, found.model),
        taken_at=taken_at,
        taken_at_source=taken_at_source,
        camera_make=found.make,
        camera_model=found.model,
        gps=found.gps,
        sidecars=[str(sidecar) for sidecar in sidecars],
        warnings=found.warnings,
    )


def _split_tags(text: str) -> list[str]:
    return [tag for tag in map(_clean, re.split(r"[;,]", text)) if tag]


def read_captions_csv(csv_path: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Captions and tags a person typed into a spreadsheet: photo path -> (captions, tags).

    Columns ``path``, ``caption``, ``tags`` (header names in any case; ``tags`` split on ';'
    or ','); one photo may span several rows. Relative paths count from the CSV's folder.
    Repeats and blanks are dropped. Raises ValueError when there is no ``path`` column and
    OSError when the file cannot be read: a person picked this file and needs to know.
    """
    csv_path = Path(csv_path)
    text = _decode(csv_path.read_bytes(), ("utf-8-sig", "cp1252", "latin-1"))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    reader.fieldnames = [name.strip().casefold() for name in reader.fieldnames or []]
    if "path" not in reader.fieldnames:
        raise ValueError(f"{csv_path}: no 'path' column (columns: path, caption, tags)")
    rows: dict[str, tuple[list[str], list[str]]] = {}
    for row in reader:
        if not (path := _clean(row.get("path"))):
            continue
        key = os.path.normpath(csv_path.parent / os.path.expanduser(path))
        captions, tags = rows.setdefault(key, ([], []))
        if caption := _clean(row.get("caption")):
            captions.append(caption)
        tags += _split_tags(row.get("tags") or "")
    return {key: (list(dict.fromkeys(c)), list(dict.fromkeys(t))) for key, (c, t) in rows.items()}
