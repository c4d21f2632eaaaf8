"""The catalog's record of the text read in photos (OCR): a part of ``Catalog``.

The words themselves are a ``texts`` row of kind ``ocr``, one per photo (so the FTS5 index that finds
captions finds them too); ``text_reads`` says which file state was read, by which engine,
when, with how many lines and where they are, or why the photo could not be read. A photo
whose file changed (size or mtime) or that an older engine read is due again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

OCR = "ocr"  # the kind and source of texts read in a photo


@dataclass
class TextReading:
    """What reading one photo gave: its lines (text, score, box) or the reason it failed."""

    photo_id: int
    size: int
    mtime: float
    lines: list[dict] = field(default_factory=list)
    error: str | None = None


# the photos due to be read with engine ``?``: FROM ... WHERE, for a SELECT to complete
_DUE = ("FROM photos p LEFT JOIN text_reads r ON r.photo_id = p.id "
        "LEFT JOIN roots o ON o.id = p.root_id "
        "WHERE p.error IS NULL AND COALESCE(o.online, 1) = 1 "
        "AND EXISTS (SELECT 1 FROM embeddings e WHERE e.photo_id = p.id) "
        "AND (r.photo_id IS NULL OR r.size <> p.size OR r.mtime <> p.mtime OR r.engine <> ?)")


class TextReadsTable:
    """Mixed into ``Catalog``, whose ``_query`` and transactions it uses."""

    def photos_to_read(self, engine: str, limit: int, after: int = 0
                       ) -> list[tuple[int, bytes, int, float]]:
        """(id, raw path, size, mtime) of embedded readable photos not read since their file
        last changed, or read by another engine; by id from ``after`` on, so a pass resumes in
        order and a photo that failed in this pass is not tried again in it. Photos of an
        offline folder (a drive unplugged) wait until it is back."""
        return self._query(
            f"SELECT p.id, p.raw_path, p.size, p.mtime {_DUE} AND p.id > ? "
            "ORDER BY p.id LIMIT ?", (engine, after, limit))

    def count_to_read(self, engine: str) -> int:
        """How many photos ``photos_to_read`` would list without a limit."""
        (due,), = self._query(f"SELECT COUNT(*) {_DUE}", (engine,))
        return due

    def forget_stale_reading(self, db, photo_id: int) -> None:
        """Inside transaction ``db``: drop the text read in a photo whose file has changed
        since, so its old words are not found while (or if) it waits to be read again."""
        db.execute(
            "DELETE FROM texts WHERE photo_id=? AND kind=? AND NOT EXISTS ("
            "SELECT 1 FROM text_reads r JOIN photos p ON p.id = r.photo_id "
            "WHERE r.photo_id=? AND r.size = p.size AND r.mtime = p.mtime)",
            (photo_id, OCR, photo_id))

    def save_readings(self, engine: str, readings: list[TextReading]) -> None:
        """Store a batch of readings in one transaction (a kill loses the batch, nothing
        else); a photo deleted or changed meanwhile is left for the next pass."""
        now = time.time()
        with self.transaction() as db:
            for reading in readings:
                row = db.execute("SELECT size, mtime, path FROM photos WHERE id=?",
                                 (reading.photo_id,)).fetchone()
                if row is None or (row[0], row[1]) != (reading.size, reading.mtime):
                    continue
                db.execute("DELETE FROM texts WHERE photo_id=? AND kind=?", (reading.photo_id, OCR))
                if reading.lines:  # one text, lines in reading order: a phrase may span two
                    db.execute("INSERT INTO texts(photo_id, kind, text, source, file) "
                               "VALUES(?,?,?,?,?)", (reading.photo_id, OCR, "\n".join(
                                   line["text"] for line in reading.lines), OCR, row[2]))
                db.execute(
                    "INSERT OR REPLACE INTO text_reads(photo_id, size, mtime, engine, read_at, "
                    "lines, boxes, error) VALUES(?,?,?,?,?,?,?,?)",
                    (reading.photo_id, reading.size, reading.mtime, engine, now,
                     len(reading.lines), json.dumps(reading.lines) if reading.lines else "",
                     reading.error))

    def reading_counts(self, engine: str) -> dict[str, int]:
        """Photos read (and how many held text, how many failed) and still to read."""
        (read, with_text, failed), = self._query(
            "SELECT COUNT(*), COALESCE(SUM(r.lines > 0), 0), COALESCE(SUM(r.error IS NOT NULL), 0) "
            "FROM text_reads r JOIN photos p ON p.id = r.photo_id "
            "WHERE p.error IS NULL AND r.size = p.size AND r.mtime = p.mtime AND r.engine = ?",
            (engine,))
        return {"read": read, "with_text": with_text, "failed": failed,
                "to_read": self.count_to_read(engine)}

    def reading(self, photo_id: int) -> dict | None:
        """The last reading of a photo: read_at, lines (text, score, box), error; None if
        never read."""
        rows = self._query("SELECT read_at, boxes, error, engine FROM text_reads "
                           "WHERE photo_id=?", (photo_id,))
        if not rows:
            return None
        read_at, boxes, error, engine = rows[0]
        return {"read_at": read_at, "lines": json.loads(boxes) if boxes else [],
                "error": error, "engine": engine}

    def reading_errors(self) -> list[tuple[str, str]]:
        """(path, reason) of photos whose text could not be read."""
        return self._query("SELECT p.path, r.error FROM text_reads r JOIN photos p "
                           "ON p.id = r.photo_id WHERE r.error IS NOT NULL ORDER BY p.path")

    def vocabulary(self, shortest: int, longest: int) -> list[str]:
        """The indexed words (case-folded, accents removed, as FTS5 stores them) of length
        ``shortest``..``longest``: where a misread word's right spelling is looked up."""
        return [term for term, in self._query(
            "SELECT term FROM texts_vocab WHERE length(term) BETWEEN ? AND ?",
            (shortest, longest))]

    def texts_matching(self, fts_query: str, limit: int = 100_000
                       ) -> list[tuple[int, str]]:
        """(photo_id, text) of every text of a readable photo that matches ``fts_query``."""
        return self._query(
            "SELECT t.photo_id, t.text FROM texts_fts f JOIN texts t ON t.id = f.rowid "
            "JOIN photos p ON p.id = t.photo_id WHERE texts_fts MATCH ? AND p.error IS NULL "
            "LIMIT ?", (fts_query, limit))

