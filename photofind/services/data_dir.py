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
    """The data dir as an absolute path: the catalog stores paths inside it (adaptation,
    reranker), and a relative one would point elsewhere from another working directory."""
    path = (Path(data_dir).expanduser() if data_dir else default_data_dir()).absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path
