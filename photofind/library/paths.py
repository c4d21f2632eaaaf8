"""Paths as the catalog stores them.

File names on Linux are bytes and need not be UTF-8; SQLite text must be. The catalog keeps
the exact bytes (``raw``) for file access and a readable text form (``text``) for display,
lookup and folder-prefix filters. For every valid UTF-8 name the text form *is* the path.
"""

from __future__ import annotations

import os
from pathlib import Path


def to_text(path: str | os.PathLike) -> str:
    return os.fsencode(os.path.abspath(path)).decode("utf-8", "backslashreplace")


def to_raw(path: str | os.PathLike) -> bytes:
    return os.fsencode(os.path.abspath(path))


def from_raw(raw: bytes) -> Path:
    return Path(os.fsdecode(raw))


def under(text_path: str, folder_text: str) -> bool:
    """True if ``text_path`` is ``folder_text`` or inside it (no partial-name matches)."""
    folder = folder_text.rstrip(os.sep)
    return text_path == folder or text_path.startswith(folder + os.sep)


def folder_like_pattern(folder_text: str) -> str:
    """A SQL LIKE pattern (with ``\\`` escape) matching everything inside ``folder_text``."""
    folder = folder_text.rstrip(os.sep)
    escaped = folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + os.sep + "%"
