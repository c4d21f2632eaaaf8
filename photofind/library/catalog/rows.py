"""What the catalog hands out: one photo's row."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from photofind.library import paths


@dataclass
class PhotoRow:
    id: int
    root_id: int | None
    path: str
    raw_path: bytes
    size: int
    mtime: float
    content_hash: str | None
    width: int | None
    height: int | None
    taken_at: str | None
    camera_make: str | None
    camera_model: str | None
    gps_lat: float | None
    gps_lon: float | None
    error: str | None
    indexed_at: float
    taken_at_source: str | None = None
    meta_stamp: str = ""
    meta_warnings: str = ""  # problems reading its metadata (unsafe XMP, corrupt EXIF), a line each

    @property
    def file(self) -> Path:
        return paths.from_raw(self.raw_path)


PHOTO_COLUMNS = ", ".join(PhotoRow.__dataclass_fields__)
