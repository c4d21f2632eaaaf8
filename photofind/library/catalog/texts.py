"""The catalog's captions and tags (``texts`` and its FTS5 index): a part of ``Catalog``,
kept in its own file so each stays readable."""

from __future__ import annotations

import sqlite3

from photofind.library import paths
from photofind.library.metadata.texts import TextItem

OWN = "photofind"  # the source of what the person wrote in photofind itself


class TextsTable:
    """What people wrote about their photos, each text with where it was read. Mixed into
    ``Catalog``, whose ``_query`` and transactions it uses."""

    def set_texts(self, db: sqlite3.Connection, photo_id: int, items,
                  keep_sources=("csv-import", "ocr", OWN)) -> None:
        """Replace a photo's texts read from its files' metadata; imported ones (CSV), the
        text read in the photo itself (OCR, renewed by its own pass) and what the person
        wrote in photofind are kept."""
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

    def edit_own_texts(self, photo_id: int, photo_file: str, caption: str | None,
                       add_tags: list[str], remove_tags: list[str],
                       sidecar: str | None = None) -> None:
        """The person's own caption (None: unchanged, "": none) and tags of one photo, in
        one transaction. A removed tag goes wherever photofind put it: its own rows, and
        the rows read from ``sidecar`` when photofind writes that file too. Tags read from
        the photo file or other programs' files stay (photofind does not change those)."""
        with self.transaction() as db:
            if caption is not None:
                db.execute("DELETE FROM texts WHERE photo_id=? AND kind='caption' AND source=?",
                           (photo_id, OWN))
            for tag in remove_tags:
                db.execute("DELETE FROM texts WHERE photo_id=? AND kind='tag' AND "
                           "text=? COLLATE NOCASE AND (source=? OR file=?)",
                           (photo_id, tag, OWN, paths.to_text(sidecar) if sidecar else ""))
            items = [TextItem("tag", tag, OWN, photo_file) for tag in add_tags]
            if caption:
                items.insert(0, TextItem("caption", caption, OWN, photo_file))
            self.add_texts(db, photo_id, items)

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

    def tagged_ids(self, name: str) -> list[int]:
        """Readable photos carrying the tag or person ``name`` (case-insensitive as SQLite's
        NOCASE: ASCII letters), lowest id first: a look-up in the ``texts_tag`` index, not a
        scan of the photos."""
        return [pid for pid, in self._query(
            "SELECT DISTINCT t.photo_id FROM texts t JOIN photos p ON p.id = t.photo_id "
            "WHERE t.kind IN ('tag','person') AND t.text = ? COLLATE NOCASE "
            "AND p.error IS NULL ORDER BY t.photo_id", (name,))]

    def tagged_among(self, ids: list[int]) -> list[int]:
        """Which of ``ids`` carry some tag or person, lowest id first: a look-up per photo
        in the ``texts_photo`` index. (Asking for every photo with another tag than one
        scanned all of a library's tags: 0.55 s at 100k photos.)"""
        found: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            found.update(pid for pid, in self._query(
                f"SELECT DISTINCT photo_id FROM texts WHERE photo_id IN "
                f"({','.join('?' * len(chunk))}) AND +kind IN ('tag','person')", chunk))
        return sorted(found)

    def text_matches(self, fts_query: str, limit: int) -> list[tuple[int, float]]:
        """(photo_id, bm25) best first; a photo's best-matching text counts."""
        return self._query(
            "SELECT t.photo_id, MIN(m.score) AS best FROM (SELECT rowid, rank AS score "
            "FROM texts_fts WHERE texts_fts MATCH ?) m JOIN texts t ON t.id = m.rowid "
            "GROUP BY t.photo_id ORDER BY best, t.photo_id LIMIT ?", (fts_query, limit))
