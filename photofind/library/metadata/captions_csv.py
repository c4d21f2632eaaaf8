"""A caption table a person imports (``photofind import-captions``)."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from photofind.library.metadata.texts import clean, decode


def _split_tags(text: str) -> list[str]:
    return [tag for tag in map(clean, re.split(r"[;,]", text)) if tag]


def read_captions_csv(csv_path: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Captions and tags a person typed into a spreadsheet: photo path -> (captions, tags).

    Columns ``path``, ``caption``, ``tags`` (header names in any case; ``tags`` split on ';'
    or ','); one photo may span several rows. Relative paths count from the CSV's folder.
    Repeats and blanks are dropped. Raises ValueError when there is no ``path`` column and
    OSError when the file cannot be read: a person picked this file and needs to know.
    """
    csv_path = Path(csv_path)
    text = decode(csv_path.read_bytes(), ("utf-8-sig", "cp1252", "latin-1"))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    reader.fieldnames = [name.strip().casefold() for name in reader.fieldnames or []]
    if "path" not in reader.fieldnames:
        raise ValueError(f"{csv_path}: no 'path' column (columns: path, caption, tags)")
    rows: dict[str, tuple[list[str], list[str]]] = {}
    for row in reader:
        if not (path := clean(row.get("path"))):
            continue
        key = os.path.normpath(csv_path.parent / os.path.expanduser(path))
        captions, tags = rows.setdefault(key, ([], []))
        if caption := clean(row.get("caption")):
            captions.append(caption)
        tags += _split_tags(row.get("tags") or "")
    return {key: (list(dict.fromkeys(c)), list(dict.fromkeys(t))) for key, (c, t) in rows.items()}
