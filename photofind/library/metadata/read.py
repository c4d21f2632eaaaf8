"""``read_metadata``: every source of one photo and its sidecars, tidied into one
``PhotoMetadata`` (junk and repeats dropped, the best date chosen)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from photofind.library.metadata.dates import file_mtime
from photofind.library.metadata.embedded import open_and_read, read_embedded
from photofind.library.metadata.found import Found, pillow_warnings
from photofind.library.metadata.sidecars import SIDECAR_READERS, sidecar_paths
from photofind.library.metadata.texts import (
    KINDS,
    PhotoMetadata,
    TextItem,
    comparable,
    is_junk,
)

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
        old = kept.get((family, comparable(item.text)))
        if old is None or rank < _FAMILY_RANK[old.kind][1]:
            kept[family, comparable(item.text)] = item
    return sorted(kept.values(), key=lambda item: KINDS.index(item.kind))


def _taken_at(found: Found, photo: Path) -> tuple[str | None, str]:
    for source in _DATE_SOURCES:
        if source in found.dates:
            return found.dates[source], source
    try:
        return file_mtime(photo), "file-mtime"
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
    found = Found()
    with pillow_warnings(found):
        if image is None:
            found.guard("image", open_and_read, photo, found)
        else:
            found.guard("image", read_embedded, image, found, str(photo))
    sidecars = sidecar_paths(photo)
    for sidecar in sidecars:
        reader = SIDECAR_READERS[sidecar.suffix.lower()]
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
