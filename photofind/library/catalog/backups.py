"""Backups of the catalog, and restoring one when the catalog is damaged.

The catalog holds every embedding: losing it means hours of re-indexing on a big library, and
a damaged file used to end in a traceback. After write jobs the catalog is copied with
SQLite's online backup API, at most once per ``interval``; each copy must pass
``PRAGMA integrity_check`` before it counts (the full check, away from the live file), and the
newest ``keep`` are kept. A damaged catalog is set aside, never deleted
(``catalog.damaged-<date>.sqlite3``), and the newest good copy takes its place.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

from photofind.library.catalog.store import Catalog

PREFIX, SUFFIX = "catalog-", ".sqlite3"
SUSPECT = ".suspect"  # beside the catalog: a check failed, check fully at the next open
INTERVAL_S = 3600.0
KEEP = 3


def backups(folder: Path) -> list[Path]:
    """The backups in ``folder``, newest first (names sort by their UTC time)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir()
                   if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX)), reverse=True)


def due(folder: Path, interval: float = INTERVAL_S) -> bool:
    found = backups(folder)
    return not found or time.time() - found[0].stat().st_mtime >= interval


def back_up(catalog: Catalog, folder: Path, keep: int = KEEP) -> Path:
    """Copy ``catalog`` into ``folder``, check the copy, keep the newest ``keep``. Raises
    ``ValueError`` when the copy fails its check: the live catalog is then suspect, and the
    good backups stay as they are."""
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    name = f"{PREFIX}{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-" \
           f"{int(now * 1000) % 1000:03d}{SUFFIX}"
    tmp = folder / f".{name}.tmp"
    try:
        catalog.copy_to(tmp)
        problem = check(tmp)
        if problem:
            raise ValueError(f"the catalog failed its check ({problem})")
        os.replace(tmp, folder / name)
    finally:
        tmp.unlink(missing_ok=True)
    for old in backups(folder)[keep:]:
        old.unlink(missing_ok=True)
    return folder / name


def check(path: Path) -> str | None:
    """None when ``path`` is a whole SQLite catalog, else what is wrong with it."""
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute("PRAGMA integrity_check").fetchall()
            db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as error:
        return str(error)
    return None if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:3])


def restore(path: Path, folder: Path) -> str:
    """Set the damaged catalog at ``path`` aside and put the newest good backup in its
    place (none: the library starts empty). Returns the sentence that tells the person."""
    stamp = time.strftime("%Y-%m-%d-%H%M%S")
    aside = path.with_name(f"{path.stem}.damaged-{stamp}{path.suffix}")
    os.replace(path, aside)
    for extra in ("-wal", "-shm"):  # the damaged file's journal belongs to it
        journal = Path(f"{path}{extra}")
        if journal.exists():
            os.replace(journal, Path(f"{aside}{extra}"))
    for candidate in backups(folder):
        if check(candidate) is None:
            tmp = path.with_name(f".{path.name}.restoring")
            shutil.copy2(candidate, tmp)
            os.replace(tmp, path)
            taken = time.strftime("%Y-%m-%d %H:%M", time.localtime(candidate.stat().st_mtime))
            return (f"the catalog was damaged: it was set aside as {aside.name} and the "
                    f"backup of {taken} restored; photos changed since then are indexed "
                    "again the next time the folders are indexed or watched")
    return (f"the catalog was damaged and no good backup exists: it was set aside as "
            f"{aside.name} and a new, empty one started; index your folders again")


def mark_suspect(path: Path) -> None:
    """Ask for the full check (and a restore if it fails) the next time ``path`` opens:
    damage met while running (a failed backup check, "database disk image is malformed")
    is repaired at a moment when nothing is using the catalog."""
    try:
        path.with_name(path.name + SUSPECT).touch()
    except OSError:
        pass


def suspect_problem(path: Path) -> str | None:
    """If ``path`` was marked suspect: the full check's finding (None: whole after all)."""
    marker = path.with_name(path.name + SUSPECT)
    if not marker.exists():
        return None
    problem = check(path) if path.exists() else None
    marker.unlink(missing_ok=True)
    return problem
