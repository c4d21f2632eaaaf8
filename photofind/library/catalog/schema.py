"""The catalog's schema as forward migrations: version N's script turns a version N-1 file
into a version N one, so any older catalog opens and is brought up to date in one transaction."""

from __future__ import annotations

from collections.abc import Iterator

SCHEMA_VERSION = 5

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
    4: """
    ALTER TABLE photos ADD COLUMN meta_warnings TEXT NOT NULL DEFAULT ''
    """,
    5: """
    CREATE TABLE text_reads(
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        engine TEXT NOT NULL,
        read_at REAL NOT NULL,
        lines INTEGER NOT NULL,
        boxes TEXT NOT NULL DEFAULT '',
        error TEXT
    );
    CREATE VIRTUAL TABLE texts_vocab USING fts5vocab(texts_fts, 'row')
    """,
}


def statements(script: str) -> Iterator[str]:
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
