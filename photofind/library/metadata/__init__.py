"""Read what people already wrote about their photos: captions, tags, people, date, camera.

Sources: embedded XMP, IPTC IIM, EXIF (incl. Windows XP* tags), PNG text and JPEG/GIF
comments, plus sidecar files (XMP, Google Takeout JSON, a plain ``.txt``) and a caption CSV
a person may import. Photo libraries are full of half-broken metadata, so nothing here
raises for bad metadata: each problem becomes a line in ``PhotoMetadata.warnings`` and the
other sources still count. Files are only ever read, never written.

Where each part lives: ``texts`` (what a text is, junk), ``dates``, ``found`` (what the
readers gather), ``xmp``, ``embedded`` (IPTC, EXIF, PNG), ``sidecars``, ``read``
(``read_metadata``), ``captions_csv``. A new metadata source is a reader in one of these (or
a new module) that adds to ``Found``, called from ``embedded.read_embedded`` or
``sidecars.SIDECAR_READERS``.
"""

from photofind.library.metadata.captions_csv import read_captions_csv
from photofind.library.metadata.read import read_metadata
from photofind.library.metadata.sidecars import sidecar_paths
from photofind.library.metadata.texts import (
    CSV_SOURCE,
    JUNK_TEXTS,
    KINDS,
    PhotoMetadata,
    TextItem,
    is_junk,
)

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
