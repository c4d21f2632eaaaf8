"""Faults of the disk under the data dir, said in a person's words.

A full disk reaches photofind in several shapes (``OSError(ENOSPC)`` from files and the token
store, ``sqlite3.OperationalError: database or disk is full`` from the catalog, EDQUOT on a
quota); so does a folder it may not write. Every write is a transaction or an atomic replace,
so after any of them nothing done so far is lost and the same command resumes where it stopped.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in _FULL:
        return True
    return isinstance(error, sqlite3.OperationalError) and "disk is full" in str(error)


def is_read_only(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return True
    return isinstance(error, sqlite3.OperationalError) and "readonly" in str(error)


class LibraryReadOnly(Exception):
    """A job that changes the library was asked of one that cannot be written."""


def read_only_reason(why: str, data_dir: Path) -> str:
    """Why a library opened read-only cannot be changed, in a person's words."""
    if _free(data_dir) < NEARLY_FULL:
        return (f"the disk holding {data_dir} is full ({free_text(data_dir)} free): "
                "searching works; free some space to add or change photos")
    return (f"photofind cannot write to {data_dir} ({why}): searching works, "
            "changing the library does not")


def explain(error: BaseException, data_dir: Path) -> str | None:
    """One sentence for a storage fault under ``data_dir`` (None: not one). A catalog that
    opened read-only on a full disk reports writes as "readonly": the free space tells."""
    if isinstance(error, (FileExistsError, NotADirectoryError)) and data_dir.is_file():
        return f"{data_dir} is a file, not a folder: choose another --data-dir"
    if is_disk_full(error) or (is_read_only(error) and _free(data_dir) < NEARLY_FULL):
        return (f"the disk holding {data_dir} is full ({free_text(data_dir)} free); "
                "everything done so far is saved: free some space and run the same command "
                "again to go on")
    if is_read_only(error):
        return (f"photofind cannot write to {data_dir} (read-only or not yours): "
                "searching works, changing the library does not")
    return None


NEARLY_FULL = 1 << 20  # bytes: less than this free and SQLite cannot open a journal


def _free(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return NEARLY_FULL  # unknown: not taken for full


def free_text(folder: Path) -> str:
    free = _free(folder)
    for unit in ("bytes", "KB", "MB", "GB"):
        if free < 1024 or unit == "GB":
            return f"{free:,.0f} {unit}" if unit == "bytes" else f"{free:,.1f} {unit}"
        free /= 1024
    return ""  # pragma: no cover
