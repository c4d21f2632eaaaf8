"""Walk photo folders: every photo found, every folder that could not be read reported."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

PHOTO_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif",
    ".heic", ".heif", ".hif", ".avif",
})


SIDECAR_EXTENSIONS = frozenset({".xmp", ".json", ".txt"})


@dataclass(frozen=True)
class FileEntry:
    raw_path: bytes
    size: int
    mtime: float


@dataclass
class ScanResult:
    files: list[FileEntry] = field(default_factory=list)
    problems: list[tuple[bytes, str]] = field(default_factory=list)  # (path, reason)
    sidecar_folders: set[bytes] = field(default_factory=set)  # folders holding .xmp/.json/.txt


_SIDECAR_BYTES = frozenset(os.fsencode(ext) for ext in SIDECAR_EXTENSIONS)


def is_photo_name(name: str | bytes) -> bool:
    name = os.fsdecode(name)
    return not os.path.basename(name).startswith(".") and \
        os.path.splitext(name)[1].lower() in PHOTO_EXTENSIONS


def scan(root: str | os.PathLike | bytes) -> ScanResult:
    """Recursive scandir: skips hidden entries, follows folder links once (loops are cut),
    reports unreadable folders instead of failing. Paths stay bytes (non-UTF-8 names)."""
    result = ScanResult()
    root_raw = os.fsencode(os.path.abspath(os.fsdecode(root)))
    seen: set[tuple[int, int]] = set()
    for entry in _walk(root_raw, seen, result):
        result.files.append(entry)
    return result


def _walk(folder: bytes, seen: set[tuple[int, int]], result: ScanResult) -> Iterator[FileEntry]:
    try:
        info = os.stat(folder)
    except OSError as exc:
        result.problems.append((folder, f"cannot open folder: {exc.strerror}"))
        return
    if (info.st_dev, info.st_ino) in seen:
        return  # symlink loop or a folder linked twice
    seen.add((info.st_dev, info.st_ino))
    try:
        with os.scandir(folder) as entries:
            children = sorted(entries, key=lambda e: e.name)
    except OSError as exc:
        result.problems.append((folder, f"cannot read folder: {exc.strerror}"))
        return
    for entry in children:
        if entry.name.startswith(b"."):
            continue
        try:
            if entry.is_dir(follow_symlinks=True):
                yield from _walk(entry.path, seen, result)
            elif is_photo_name(entry.name):
                st = entry.stat(follow_symlinks=True)
                if stat.S_ISREG(st.st_mode):
                    yield FileEntry(entry.path, st.st_size, st.st_mtime)
            elif os.path.splitext(entry.name)[1].lower() in _SIDECAR_BYTES:
                result.sidecar_folders.add(folder)
        except OSError as exc:  # broken link, permission, vanished meanwhile
            result.problems.append((entry.path, f"cannot read: {exc.strerror}"))
