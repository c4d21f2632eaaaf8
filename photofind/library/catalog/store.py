"""The ``Catalog`` class: every read and write of the catalog file, each a named method, so
that the SQL (and the schema it depends on) stays in this package."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from photofind.library import paths
from photofind.library.catalog.criteria import PhotoCriteria, where_clause
from photofind.library.catalog.reads import TextReadsTable
from photofind.library.catalog.rows import PHOTO_COLUMNS, PhotoRow
from photofind.library.catalog.schema import MIGRATIONS, SCHEMA_VERSION, statements
from photofind.library.catalog.texts import TextsTable

# How photos may be listed: ORDER BY clauses over ``photos``. Photos without a date go last
# in either date order; the path breaks ties, so pages of a listing never overlap. "name"
# is the file name (what follows the last separator), whatever the folder.
_FILE_NAME = f"substr(path, length(rtrim(path, replace(path, '{os.sep}', ''))) + 1)"
ORDERS = {
    "indexed": "id",
    "newest": "taken_at IS NULL, taken_at DESC, path",
    "oldest": "taken_at IS NULL, taken_at, path",
    "name": f"{_FILE_NAME} COLLATE NOCASE, path",
}


class CatalogDamaged(Exception):
    """The catalog file is not a readable SQLite database (garbage, truncated, overwritten)."""


class CatalogTooNew(Exception):
    """The catalog was written by a newer photofind, whose schema this one cannot read."""


class Catalog(TextsTable, TextReadsTable):
    """Thread-safe access to the catalog file (one connection, serialised by a lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # Why the catalog is open read-only (None: it is writable). A full disk or a
        # read-only mount must not stop a person from searching what is already indexed.
        self.read_only: str | None = None
        try:
            try:
                self._db = self._connect(self.path, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.OperationalError as error:
                if not self.path.exists():
                    raise
                self._db = self._open_read_only()
                self.read_only = str(error)
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError):
                raise
            raise CatalogDamaged(f"{self.path.name}: {error}") from error

    @staticmethod
    def _connect(target, **options) -> sqlite3.Connection:
        return sqlite3.connect(target, check_same_thread=False, timeout=30, **options)

    def _open_read_only(self) -> sqlite3.Connection:
        """Read-only, for a full disk or a read-only folder. ``mode=ro`` still reads a live
        WAL (it needs to create the shared-memory file); ``immutable`` needs nothing written
        at all and sees the catalog as it was last checkpointed."""
        uri = self.path.absolute().as_uri()
        for flags in ("mode=ro", "mode=ro&immutable=1"):
            db = self._connect(f"{uri}?{flags}", uri=True, isolation_level=None)
            try:
                db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError:
                db.close()
        raise sqlite3.OperationalError(f"{self.path} cannot be opened, even to read")

    # -- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def _stored_version(self) -> int:
        try:
            row = self._db.execute(
                "SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table: a new file
            return 0
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        """Bring an older file up to date; an up-to-date one is only read, so opening a
        catalog never writes (a full disk or a read-only copy still opens)."""
        current = self._stored_version()
        if current > SCHEMA_VERSION:
            raise CatalogTooNew(
                f"{self.path} was written by a newer photofind (catalog version {current}; "
                f"this one reads up to {SCHEMA_VERSION}): update photofind, or use another "
                "--data-dir")
        if current == SCHEMA_VERSION:
            return
        if self.read_only:
            raise sqlite3.OperationalError(
                f"{self.path} needs an upgrade but cannot be written ({self.read_only})")
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)")
            current = self._stored_version()  # again, inside the write lock
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in statements(MIGRATIONS[version]):
                    db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES('schema_version', ?)",
                       (str(SCHEMA_VERSION),))

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (key, value))

    def meta_with_prefix(self, prefix: str) -> dict[str, str]:
        """Every meta entry whose key starts with ``prefix`` (e.g. ``"rerank:"``)."""
        return dict(self._query("SELECT key, value FROM meta WHERE key LIKE ? ESCAPE '\\'",
                                (_like_prefix(prefix),)))

    @property
    def schema_version(self) -> int:
        return int(self.get_meta("schema_version", "0"))

    def copy_to(self, target: Path) -> None:
        """A consistent copy of the whole catalog (SQLite's online backup), taken while
        other connections go on reading and writing."""
        destination = sqlite3.connect(target)
        try:
            with self._lock:
                self._db.backup(destination)
        finally:
            destination.close()

    # -- roots ------------------------------------------------------------------------------
    def add_root(self, folder: str | Path) -> int:
        text = paths.to_text(folder)
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO roots(path, raw_path, added_at) VALUES(?,?,?)",
                       (text, paths.to_raw(folder), time.time()))
            return db.execute("SELECT id FROM roots WHERE path=?", (text,)).fetchone()[0]

    def roots(self) -> list[tuple[int, str, bytes, bool]]:
        return [(r[0], r[1], r[2], bool(r[3])) for r in
                self._query("SELECT id, path, raw_path, online FROM roots ORDER BY path")]

    def root_for(self, path: str | Path) -> int | None:
        """The root containing ``path`` (deepest if nested)."""
        text = paths.to_text(path)
        best = [(len(p), rid) for rid, p, _, _ in self.roots() if paths.under(text, p)]
        return max(best)[1] if best else None

    def set_root_online(self, root_id: int, online: bool) -> None:
        with self.transaction() as db:
            db.execute("UPDATE roots SET online=? WHERE id=?", (int(online), root_id))

    def offline_roots(self) -> list[int]:
        """Roots whose folder was missing when last looked at: their photos are hidden."""
        return [rid for rid, _, _, online in self.roots() if not online]

    def remove_root(self, root_id: int) -> list[int]:
        """Forget a root and its photos; returns the removed photo ids."""
        with self.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM photos WHERE root_id=?", (root_id,))]
            self._delete_ids(db, ids)
            db.execute("DELETE FROM roots WHERE id=?", (root_id,))
        return ids

    # -- photos ---------------------------------------------------------------------------
    def _photos(self, where: str = "1", args: Iterable = ()) -> list[PhotoRow]:
        rows = self._query(f"SELECT {PHOTO_COLUMNS} FROM photos WHERE {where}", args)
        return [PhotoRow(*row) for row in rows]

    def photos(self) -> list[PhotoRow]:
        """Every photo, unreadable ones included."""
        return self._photos()

    def readable_ids(self) -> list[int]:
        return [r[0] for r in self._query("SELECT id FROM photos WHERE error IS NULL")]

    def photo(self, photo_id: int) -> PhotoRow | None:
        rows = self._photos("id=?", (photo_id,))
        return rows[0] if rows else None

    def photo_by_path(self, path: str | Path) -> PhotoRow | None:
        rows = self._photos("path=?", (paths.to_text(path),))
        return rows[0] if rows else None

    def photos_in_folder(self, folder: str | Path) -> list[PhotoRow]:
        text = paths.to_text(folder)
        return self._photos("path=? OR path LIKE ? ESCAPE '\\'",
                            (text, paths.folder_like_pattern(text)))

    def photo_folders(self) -> list[str]:
        """Every folder that directly holds a readable photo, once, sorted: the folder
        filter's tree is built from these (and the roots)."""
        folders = {path.rpartition(os.sep)[0] for path, in
                   self._query("SELECT path FROM photos WHERE error IS NULL")}
        return sorted(folders)

    def has_photos_under(self, folder: str | Path) -> bool:
        like = paths.folder_like_pattern(paths.to_text(folder))
        return bool(self._query("SELECT 1 FROM photos WHERE path LIKE ? ESCAPE '\\' LIMIT 1",
                                (like,)))

    def embedded_twins(self, content_hash: str, model_key: str) -> list[PhotoRow]:
        """Readable photos with these bytes and a vector of ``model_key``: a moved file's old
        row, or a duplicate whose vector can be copied instead of encoded."""
        return self._photos(
            "content_hash=? AND error IS NULL AND EXISTS (SELECT 1 FROM embeddings e WHERE "
            "e.photo_id = photos.id AND e.model_key = ?)", (content_hash, model_key))

    def _visible(self, criteria: PhotoCriteria) -> tuple[str, list]:
        return where_clause(criteria)

    def visible_ids(self, criteria: PhotoCriteria) -> set[int]:
        """Readable photos that meet ``criteria`` (offline folders' photos included: they are
        found, marked offline)."""
        where, args = self._visible(criteria)
        return {r[0] for r in self._query(f"SELECT id FROM photos WHERE {where}", args)}

    def visible_photos(self, criteria: PhotoCriteria, limit: int,
                       order: str = "indexed") -> list[PhotoRow]:
        """The first ``limit`` of ``visible_ids`` in ``order`` (one of ``ORDERS``): sorted
        here, so a listing by date or name costs one query whatever the library's size."""
        where, args = self._visible(criteria)
        return self._photos(f"{where} ORDER BY {ORDERS[order]} LIMIT ?", [*args, limit])

    def in_order(self, ids: Iterable[int], order: str) -> list[int]:
        """``ids`` (a search's matches) sorted as ``visible_photos`` sorts, so a list of
        matches and a listing put the same photos in the same order."""
        return [pid for pid, in self._query(
            "SELECT id FROM photos WHERE id IN (SELECT value FROM json_each(?)) "
            f"ORDER BY {ORDERS[order]}", (json.dumps(list(ids)),))]

    def save_photo(self, db: sqlite3.Connection, root_id: int | None, raw_path: bytes,
                   fields: dict) -> int:
        """Insert or update one photo row by path inside transaction ``db``; returns its id."""
        text = paths.to_text(paths.from_raw(raw_path))
        values = {"root_id": root_id, "raw_path": raw_path, "indexed_at": time.time(), **fields}
        names = list(values)
        db.execute(
            f"INSERT INTO photos(path, {', '.join(names)}) VALUES(?{', ?' * len(names)}) "
            f"ON CONFLICT(path) DO UPDATE SET {', '.join(f'{n}=excluded.{n}' for n in names)}",
            (text, *values.values()))
        photo_id = db.execute("SELECT id FROM photos WHERE path=?", (text,)).fetchone()[0]
        self.forget_stale_reading(db, photo_id)
        return photo_id

    def set_meta_stamp(self, db: sqlite3.Connection, photo_id: int, stamp: str) -> None:
        """Record the sidecar files' state the photo's metadata was read from."""
        db.execute("UPDATE photos SET meta_stamp=? WHERE id=?", (stamp, photo_id))

    def save_metadata(self, db: sqlite3.Connection, photo_id: int, metadata) -> None:
        """A photo's date, camera, GPS and texts (a ``PhotoMetadata``), inside ``db``."""
        lat, lon = metadata.gps or (None, None)
        db.execute("UPDATE photos SET taken_at=?, taken_at_source=?, camera_make=?, "
                   "camera_model=?, gps_lat=?, gps_lon=?, meta_warnings=? WHERE id=?",
                   (metadata.taken_at, metadata.taken_at_source, metadata.camera_make,
                    metadata.camera_model, lat, lon, "\n".join(metadata.warnings), photo_id))
        self.set_texts(db, photo_id, metadata.texts)

    def move_photo(self, db: sqlite3.Connection, photo_id: int, raw_path: bytes,
                   root_id: int | None, mtime: float) -> None:
        text = paths.to_text(paths.from_raw(raw_path))
        db.execute("DELETE FROM photos WHERE path=? AND id<>?", (text, photo_id))
        db.execute("UPDATE photos SET path=?, raw_path=?, root_id=?, mtime=? WHERE id=?",
                   (text, raw_path, root_id, mtime, photo_id))

    def delete_photos(self, ids: Iterable[int]) -> None:
        with self.transaction() as db:
            self._delete_ids(db, list(ids))

    def _delete_ids(self, db: sqlite3.Connection, ids: list[int]) -> None:
        if not ids:
            return
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            hit = db.execute(f"DELETE FROM embeddings WHERE photo_id IN ({marks})", chunk)
            if hit.rowcount:
                self._bump_version(db)
            db.execute(f"DELETE FROM photos WHERE id IN ({marks})", chunk)

    def counts(self) -> dict[str, int]:
        (photos, errors), = self._query(
            "SELECT COUNT(*), COALESCE(SUM(error IS NOT NULL), 0) FROM photos")
        return {"photos": photos - errors, "errors": errors, "roots": len(self.roots())}

    def readable_counts_by_root(self) -> dict[int, int]:
        return dict(self._query("SELECT root_id, COUNT(*) FROM photos WHERE error IS NULL "
                                "AND root_id IS NOT NULL GROUP BY root_id"))

    def metadata_warnings(self) -> list[tuple[str, str]]:
        """(path, warning) of readable photos whose metadata could not all be read."""
        rows = self._query("SELECT path, meta_warnings FROM photos WHERE meta_warnings <> '' "
                           "AND error IS NULL ORDER BY path")
        return [(path, line) for path, text in rows for line in text.splitlines()]

    def errors(self) -> list[tuple[str, str]]:
        return self._query("SELECT path, error FROM photos WHERE error IS NOT NULL ORDER BY path")

    # -- embeddings -----------------------------------------------------------------------
    def set_embedding(self, db: sqlite3.Connection, photo_id: int, model_key: str,
                      vector: np.ndarray) -> None:
        db.execute("INSERT OR REPLACE INTO embeddings(photo_id, model_key, vector) VALUES(?,?,?)",
                   (photo_id, model_key, np.asarray(vector, np.float16).tobytes()))
        self._bump_version(db)

    def drop_model(self, model_key: str) -> None:
        """Forget every embedding of one model key (e.g. a reset adaptation)."""
        with self.transaction() as db:
            if db.execute("DELETE FROM embeddings WHERE model_key=?", (model_key,)).rowcount:
                self._bump_version(db)

    def drop_other_models(self, base_key: str) -> None:
        """After a model change: forget vectors of other models (and their adaptations)."""
        with self.transaction() as db:
            hit = db.execute("DELETE FROM embeddings WHERE model_key <> ? AND model_key NOT "
                             "LIKE ? ESCAPE '\\'", (base_key, _like_prefix(base_key + "|")))
            if hit.rowcount:
                self._bump_version(db)

    def drop_embedding(self, db: sqlite3.Connection, photo_id: int) -> None:
        if db.execute("DELETE FROM embeddings WHERE photo_id=?", (photo_id,)).rowcount:
            self._bump_version(db)

    def has_embedding(self, photo_id: int, model_key: str) -> bool:
        return bool(self._query("SELECT 1 FROM embeddings WHERE photo_id=? AND model_key=?",
                                (photo_id, model_key)))

    def is_embedded(self, photo_id: int) -> bool:
        """Has the photo a vector of any model (indexed, as the detail pane says)?"""
        return bool(self._query("SELECT 1 FROM embeddings WHERE photo_id=? LIMIT 1",
                                (photo_id,)))

    def embedded_ids(self, model_key: str) -> set[int]:
        return {r[0] for r in
                self._query("SELECT photo_id FROM embeddings WHERE model_key=?", (model_key,))}

    def embeddings(self, model_key: str, ids: Iterable[int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, vectors float32 N×D) stored for ``model_key`` (in ``ids`` order)."""
        ids = None if ids is None else list(ids)
        if ids is None:
            rows = self._query("SELECT photo_id, vector FROM embeddings WHERE model_key=? "
                               "ORDER BY photo_id", (model_key,))
        else:
            rows = []
            for chunk in _chunks(ids, 500):
                rows += self._query(
                    f"SELECT photo_id, vector FROM embeddings WHERE model_key=? AND photo_id IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY photo_id", (model_key, *chunk))
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        if ids is not None:  # in the order asked for
            position = {pid: i for i, pid in enumerate(ids)}
            rows.sort(key=lambda r: position[r[0]])
        ids_out = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        vectors = np.stack([np.frombuffer(r[1], np.float16) for r in rows]).astype(np.float32)
        return ids_out, vectors

    def model_keys(self) -> dict[str, int]:
        return dict(self._query("SELECT model_key, COUNT(*) FROM embeddings GROUP BY model_key"))

    def embedding_version(self) -> int:
        return int(self.get_meta("embedding_version", "0"))

    def _bump_version(self, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO meta VALUES('embedding_version', '1') ON CONFLICT(key) DO "
                   "UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)")


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
