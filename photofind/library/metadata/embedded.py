"""The sources inside the image file: XMP, IPTC IIM, EXIF (Windows XP* tags, UserComment,
GPS included), PNG text chunks and JPEG/GIF comments."""

from __future__ import annotations

import codecs
import math
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, IptcImagePlugin

from photofind.library.metadata.found import Found
from photofind.library.metadata.texts import clean, decode, exif_str
from photofind.library.metadata.xmp import read_xmp


def as_list(value: object) -> list:
    """Repeatable fields come as one value or a list of them."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- IPTC IIM -------------------------------------------------------------------------------


_IPTC_TEXTS = (  # ((record, dataset), name, kind)
    ((2, 120), "Caption-Abstract", "caption"),
    ((2, 105), "Headline", "title"),
    ((2, 25), "Keywords", "tag"),
)
_IPTC_CHARSET = (1, 90)
_IPTC_UTF8 = b"\x1b%G"  # ISO 2022 escape that declares UTF-8


def _read_iptc(img: Image.Image, found: Found, file: str) -> None:
    """IPTC caption, headline and keywords; without a charset record try UTF-8, then Latin-1."""
    info = IptcImagePlugin.getiptcinfo(img) or {}  # type: ignore[arg-type]
    charset = as_list(info.get(_IPTC_CHARSET))
    encodings = ("utf-8",) if charset[:1] == [_IPTC_UTF8] else ("utf-8", "latin-1")
    for key, name, kind in _IPTC_TEXTS:
        for raw in as_list(info.get(key)):
            if isinstance(raw, bytes):
                found.add(kind, decode(raw, encodings), f"iptc:{name}", file)


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
        return exif_str(value)
    code, text = value[:8], value[8:]
    if code == b"UNICODE\x00":
        return _utf16(text, endian)
    if code in _USER_COMMENT_CODES:
        return decode(text, _USER_COMMENT_CODES[code])
    return decode(value)  # no character code at all: take the bytes as they are


_EXIF_TEXTS = (  # (IFD0 tag, source, kind, decoder)
    (0x010E, "exif:ImageDescription", "caption", exif_str),
    (0x9C9B, "exif:XPTitle", "title", _xp_text),
    (0x9C9F, "exif:XPSubject", "title", _xp_text),
    (0x9C9C, "exif:XPComment", "caption", _xp_text),
)


def _sub_ifd(exif: Image.Exif, tag: int, name: str, found: Found) -> dict[int, Any]:
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
    if exif_str(ref).strip().upper().startswith(negative_ref):
        degrees = -degrees
    return round(degrees, 7)


def _read_gps(gps: dict[int, Any], found: Found) -> None:
    """GPS position; (0, 0) is what receivers without a fix write, so it is ignored."""
    lat = _degrees(gps.get(2), gps.get(1), "S", 90)
    lon = _degrees(gps.get(4), gps.get(3), "W", 180)
    if lat is not None and lon is not None and (lat, lon) != (0, 0):
        found.gps = (lat, lon)


def _read_exif(img: Image.Image, found: Found, file: str) -> None:
    """Camera, texts, dates and position from EXIF (JPEG, TIFF, HEIF, PNG eXIf, WebP)."""
    exif = img.getexif()
    found.make = clean(exif_str(exif.get(_MAKE))) or None
    found.model = clean(exif_str(exif.get(_MODEL))) or None
    for tag, source, kind, as_text in _EXIF_TEXTS:
        found.add(kind, as_text(exif.get(tag)), source, file)
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


def _read_png_text(img: Image.Image, found: Found, file: str) -> None:
    """tEXt/zTXt/iTXt chunks (``img.text`` also finds chunks after the image data)."""
    for key, value in img.text.items():  # type: ignore[attr-defined]
        if kind := _PNG_TEXTS.get(key.casefold()):
            found.add(kind, value, f"png:{key.capitalize()}", file)


def read_embedded(img: Image.Image, found: Found, file: str) -> None:
    """Every source inside the image file; XMP first, as the most complete one."""
    if xmp := img.info.get("xmp"):
        found.guard("XMP", read_xmp, xmp, found, file)
    found.guard("IPTC", _read_iptc, img, found, file)
    found.guard("EXIF", _read_exif, img, found, file)
    if img.format == "PNG":
        found.guard("PNG text", _read_png_text, img, found, file)
    if isinstance(comment := img.info.get("comment"), bytes):  # JPEG COM, GIF comment
        found.add("caption", decode(comment), f"{(img.format or 'image').lower()}:comment", file)


@cache
def _enable_heif() -> None:
    """Let Pillow open HEIC/HEIF (phone photos) when pillow-heif is installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return
    register_heif_opener()


def open_and_read(photo: Path, found: Found) -> None:
    _enable_heif()
    with Image.open(photo) as img:
        read_embedded(img, found, str(photo))
