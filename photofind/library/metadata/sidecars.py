"""Files beside a photo that describe it: XMP sidecars, Google Takeout JSON, a plain
``.txt``; finding them under the names tools give them, and reading the last two."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG

from photofind.library.metadata.embedded import as_list
from photofind.library.metadata.found import Found
from photofind.library.metadata.texts import decode
from photofind.library.metadata.xmp import read_xmp_file

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


def _read_takeout(path: Path, found: Found) -> None:
    """Google Takeout JSON: description, tagged people, and the time Google had for it."""
    data = json.loads(path.read_bytes())
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    file = str(path)
    found.add("caption", data.get("description"), "takeout:description", file)
    for person in as_list(data.get("people")):
        if isinstance(person, dict):
            found.add("person", person.get("name"), "takeout:people", file)
    taken = data.get("photoTakenTime")
    timestamp = int(taken.get("timestamp") or 0) if isinstance(taken, dict) else 0
    if timestamp > 0:
        iso = datetime.fromtimestamp(timestamp, UTC).isoformat()
        found.dates.setdefault("takeout:photoTakenTime", iso)


def _read_txt(path: Path, found: Found) -> None:
    text = decode(path.read_bytes(), ("utf-8-sig", "latin-1"))
    found.add("caption", text, "txt-sidecar", str(path))


SIDECAR_READERS = {".xmp": read_xmp_file, ".json": _read_takeout, ".txt": _read_txt}
