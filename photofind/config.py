"""Where photofind keeps its data: never inside the user's photo folders."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "PHOTOFIND_DATA_DIR"


def default_data_dir() -> Path:
    """The catalog/index folder: $PHOTOFIND_DATA_DIR, else platformdirs' user data dir."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("photofind", appauthor=False))


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path
