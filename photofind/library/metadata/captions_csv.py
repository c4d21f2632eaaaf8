"""A caption table a person imports (``photofind import-captions``)."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from photofind.library.metadata.texts import cap_text, clean, decode

log = logging.getLogger(__name__)


def _split_tags(text: str) -> list[str]:
    return [tag for tag in map(clean, re.split(r"[;,]", text)) if tag]


@contextmanager
def _fields_up_to(length: int):
    """Let the csv module read fields as long as the whole text. Its default limit (128 KB)
    guards streams read piece by piece; this table is in memory already, so no field can be
    longer than it, and a long cell must not stop the rows before it from being imported (each
    text is cut to MAX_TEXT_CHARS afterwards). The limit is process-wide: set back after."""
    old = csv.field_size_limit(max(length, csv.field_size_limit()))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def read_captions_csv(csv_path: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Captions and tags a person typed into a spreadsheet: photo path -> (captions, tags).

    Columns ``path``, ``caption``, ``tags`` (header names in any case; ``tags`` split on ';'
    or ','); one photo may span several rows. Relative paths count from the CSV's folder.
    Repeats and blanks are dropped; a caption or tag longer than ``MAX_TEXT_CHARS`` is cut to
    it, with a warning on the log naming the photo. Raises ValueError when there is no ``path``
    column or the table is not CSV, and OSError when the file cannot be read: a person picked
    this file and needs to know.
    """
    csv_path = Path(csv_path)
    text = decode(csv_path.read_bytes(), ("utf-8-sig", "cp1252", "latin-1"))
    rows: dict[str, tuple[list[str], list[str]]] = {}
    with _fields_up_to(len(text) + 1):
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            reader.fieldnames = [name.strip().casefold() for name in reader.fieldnames or []]
            if "path" not in reader.fieldnames:
                raise ValueError(f"{csv_path}: no 'path' column (columns: path, caption, tags)")
            for row in reader:
                _add_row(row, csv_path, rows)
        except csv.Error as exc:
            raise ValueError(f"{csv_path}: not a readable CSV table "
                             f"(line {reader.line_num}: {exc})") from exc
    return {key: (list(dict.fromkeys(c)), list(dict.fromkeys(t))) for key, (c, t) in rows.items()}


def _add_row(row: dict, csv_path: Path, rows: dict[str, tuple[list[str], list[str]]]) -> None:
    if not (path := clean(row.get("path"))):
        return
    key = os.path.normpath(csv_path.parent / os.path.expanduser(path))
    captions, tags = rows.setdefault(key, ([], []))
    note = _noter(csv_path)
    if caption := clean(row.get("caption")):
        captions.append(cap_text(caption, f"the caption of {key}", note))
    tags += [cap_text(tag, f"a tag of {key}", note) for tag in _split_tags(row.get("tags") or "")]


def _noter(csv_path: Path) -> Callable[[str], None]:
    """Where a shortened text is reported: the log, which the CLI prints on stderr."""
    return lambda line: log.warning("photofind: %s: %s", csv_path, line)
