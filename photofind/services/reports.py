"""What the CLI's ``status`` and ``show`` print and the GUI's status bar and detail pane show:
the library's counts, roots and sizes; everything known about one photo. Neither loads the
model."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

from photofind import ocr
from photofind.library.metadata import sidecar_paths
from photofind.ocr.reader import ENGINE
from photofind.services import artefacts
from photofind.services.state import LibraryState


def status(state: LibraryState) -> dict:
    catalog = state.catalog
    counts = catalog.counts()
    index_file = state.index_file() if state.model_loaded else None
    readable = catalog.readable_counts_by_root()
    return {
        "data_dir": str(state.data_dir),
        "model": state.model_spec.describe(),
        "model_key": state.model_key if state.model_loaded else None,
        **counts,
        "roots": [{"path": p, "online": online, "photos": readable.get(rid, 0)}
                  for rid, p, _, online in catalog.roots()],
        "embeddings": catalog.model_keys(),
        "text_in_photos": {**catalog.reading_counts(ENGINE), "off": not ocr.enabled()},
        "catalog_bytes": _size(catalog.path),
        "index_bytes": _size(index_file) if index_file else None,
        "errors_list": catalog.errors(),
        "metadata_warnings": catalog.metadata_warnings(),
        "warnings": artefacts.problems(state),
    }


def photo_details(state: LibraryState, photo: int | str | os.PathLike) -> dict | None:
    """Everything known about one photo: file facts, metadata, texts with sources."""
    catalog = state.catalog
    row = catalog.photo(photo) if isinstance(photo, int) else catalog.photo_by_path(photo)
    if row is None:
        return None
    details = asdict(row)
    details.pop("raw_path")
    details["texts"] = catalog.texts(row.id)
    details["index_status"] = "unreadable: " + row.error if row.error else \
        ("indexed" if catalog.is_embedded(row.id) else "waiting to be indexed")
    details["sidecars"] = [str(p) for p in sidecar_paths(row.file)]
    details["meta_warnings"] = row.meta_warnings.splitlines()
    details["text_in_photo"] = catalog.reading(row.id)
    return details


def _size(path: Path | None) -> int:
    total = 0
    for candidate in [path, Path(f"{path}-wal")] if path else []:
        if candidate.exists():
            total += candidate.stat().st_size
    return total
