"""The SQLite catalog: roots, photos, per-file errors and float16 embeddings.

One file under the data dir, WAL mode, versioned schema with forward migrations. Every write
is a transaction, so a crash leaves either the old or the new state. ``embedding_version``
increases with every change to stored embeddings: the HNSW index records the version it was
built from and is rebuilt from here when they differ.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photofind.library import paths

SCHEMA_VERSION = 3

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE roots(
        id INTEGER PRIMARY KEY,
        path TEXT UNIQUE NOT NULL,
        raw_path BLOB NOT NULL,
        added_at REAL NOT NULL,
        online INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE photos(
        id INTEGER PRIMARY KEY,
        root_id INTEGER REFERENCES roots(id) ON DELETE CASCADE,
        path TEXT UNIQUE NOT NULL,
        raw_path BLOB NOT NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        content_hash TEXT,
        width INTEGER,
        height INTEGER,
        taken_at TEXT,
        camera_make TEXT,
        camera_model TEXT,
        gps_lat REAL,
        gps_lon REAL,
        error TEXT,
        indexed_at REAL NOT NULL
    );
    CREATE INDEX photos_root ON photos(root_id);
    CREATE INDEX photos_hash ON photos(content_hash);
    CREATE TABLE embeddings(
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        model_key TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX embeddings_model ON embeddings(model_key);
    """,
    2: """
    ALTER TABLE photos ADD COLUMN taken_at_source TEXT;
    ALTER TABLE photos ADD COLUMN meta_stamp TEXT NOT NULL DEFAULT '';
    CREATE INDEX photos_taken ON photos(taken_at);
    CREATE TABLE texts(
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        source TEXT NOT NULL,
        file TEXT NOT NULL,
        hierarchy TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX texts_photo ON texts(photo_id);
    CREATE INDEX texts_tag ON texts(kind, text COLLATE NOCASE);
    CREATE VIRTUAL TABLE texts_fts USING fts5(
        text, content='texts', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER texts_ai AFTER INSERT ON texts BEGIN
        INSERT INTO texts_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER texts_ad AFTER DELETE ON texts BEGIN
        INSERT INTO texts_fts(texts_fts, rowid, text) VALUES('delete', old.id, old.text);
    END
    """,
    3: """
    CREATE TABLE embeddings_v3(
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model_key TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY(photo_id, model_key)
    );
    INSERT INTO embeddings_v3 SELECT photo_id, model_key, vector FROM embeddings;
    DROP TABLE embeddings;
    ALTER TABLE embeddings_v3 RENAME TO embeddings;
    CREATE INDEX embeddings_model ON embeddings(model_key)
    """,
}


@dataclass
class PhotoRow:
    id: int
    root_id: int | None
    path: str
    raw_path: bytes
    size: int
    mtime: float
    content_hash: str | None
    width: int | None
    height: int | None
    taken_at: str | None
    camera_make: str | None
    camera_model: str | None
    gps_lat: float | None
    gps_lon: float | None
    error: str | None
    indexed_at: float
    taken_at_source: str | None = None
    meta_stamp: str = ""

    @property
    def file(self) -> Path:
        return paths.from_raw(self.raw_path)


_PHOTO_COLUMNS = ", ".join(PhotoRow.__dataclass_fields__)


class Catalog:
    """Thread-safe access to the catalog file (one connection, serialised by a lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

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

    def _migrate(self) -> None:
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)")
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            current = int(row[0]) if row else 0
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer photofind (schema {current}); "
                    f"this version understands up to {SCHEMA_VERSION}")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _statements(MIGRATIONS[version]):
                    db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES('schema_version', ?)",
                       (str(SCHEMA_VERSION),))

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (key, value))

    @property
    def schema_version(self) -> int:
        return int(self.get_meta("schema_version", "0"))

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

    def remove_root(self, root_id: int) -> list[int]:
        """Forget a root and its photos; returns the removed photo ids."""
        with self.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM photos WHERE root_id=?", (root_id,))]
            self._delete_ids(db, ids)
            db.execute("DELETE FROM roots WHERE id=?", (root_id,))
        return ids

    # -- photos ---------------------------------------------------------------------------
    def photos(self, where: str = "1", args: Iterable = ()) -> list[PhotoRow]:
        rows = self._query(f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE {where}", args)
        return [PhotoRow(*row) for row in rows]

    def photo(self, photo_id: int) -> PhotoRow | None:
        rows = self.photos("id=?", (photo_id,))
        return rows[0] if rows else None

    def photo_by_path(self, path: str | Path) -> PhotoRow | None:
        rows = self.photos("path=?", (paths.to_text(path),))
        return rows[0] if rows else None

    def photos_in_folder(self, folder: str | Path) -> list[PhotoRow]:
        text = paths.to_text(folder)
        return self.photos("path=? OR path LIKE ? ESCAPE '\\'",
                           (text, paths.folder_like_pattern(text)))

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
        return db.execute("SELECT id FROM photos WHERE path=?", (text,)).fetchone()[0]

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

    def errors(self) -> list[tuple[str, str]]:
        return self._query("SELECT path, error FROM photos WHERE error IS NOT NULL ORDER BY path")

    # -- captions and tags ------------------------------------------------------------------
    def set_texts(self, db: sqlite3.Connection, photo_id: int, items, keep_sources=("csv-import",)
                  ) -> None:
        """Replace a photo's texts read from its files; imported ones (CSV) are kept."""
        marks = ",".join("?" * len(keep_sources))
        db.execute(f"DELETE FROM texts WHERE photo_id=? AND source NOT IN ({marks})",
                   (photo_id, *keep_sources))
        self.add_texts(db, photo_id, items)

    def add_texts(self, db: sqlite3.Connection, photo_id: int, items) -> None:
        existing = {(k, t.casefold()) for k, t in db.execute(
            "SELECT kind, text FROM texts WHERE photo_id=?", (photo_id,))}
        for item in items:
            if (item.kind, item.text.casefold()) in existing:
                continue
            existing.add((item.kind, item.text.casefold()))
            db.execute("INSERT INTO texts(photo_id, kind, text, source, file, hierarchy) "
                       "VALUES(?,?,?,?,?,?)", (photo_id, item.kind, item.text, item.source,
                                               paths.to_text(item.file),
                                               "|".join(item.hierarchy)))

    def texts(self, photo_id: int) -> list[dict]:
        rows = self._query("SELECT kind, text, source, file, hierarchy FROM texts "
                           "WHERE photo_id=? ORDER BY id", (photo_id,))
        return [dict(zip(("kind", "text", "source", "file", "hierarchy"), r)) for r in rows]

    def all_texts(self, kinds=("caption", "title", "tag", "person")) -> list[tuple[int, str, str]]:
        """(photo_id, kind, text) of every usable photo: the training data of adaptation."""
        marks = ",".join("?" * len(kinds))
        return self._query(
            f"SELECT t.photo_id, t.kind, t.text, t.hierarchy FROM texts t JOIN photos p "
            f"ON p.id=t.photo_id WHERE p.error IS NULL AND t.kind IN ({marks}) ORDER BY t.id",
            kinds)

    def tag_names(self) -> list[str]:
        """Every tag and person name once (case-insensitively), sorted: the GUI's tag list."""
        rows = self._query("SELECT MIN(text) FROM texts WHERE kind IN ('tag','person') "
                           "GROUP BY text COLLATE NOCASE ORDER BY text COLLATE NOCASE")
        return [text for text, in rows]

    def text_matches(self, fts_query: str, limit: int) -> list[tuple[int, float]]:
        """(photo_id, bm25) best first; a photo's best-matching text counts."""
        return self._query(
            "SELECT t.photo_id, MIN(m.score) AS best FROM (SELECT rowid, rank AS score "
            "FROM texts_fts WHERE texts_fts MATCH ?) m JOIN texts t ON t.id = m.rowid "
            "GROUP BY t.photo_id ORDER BY best, t.photo_id LIMIT ?", (fts_query, limit))

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


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN … END) whole."""
    buffer = ""
    for part in script.split(";"):
        buffer += part
        if buffer.strip() and (buffer.count("BEGIN") == buffer.count("END") or
                               "TRIGGER" not in buffer):
            yield buffer.strip()
            buffer = ""
        elif buffer.strip():
            buffer += ";"


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
