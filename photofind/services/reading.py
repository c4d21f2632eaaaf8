"""The text-in-photos pass: photos embedded but not yet read are read in batches by the
low-priority reader process, and each batch is stored in one transaction.

A kill loses at most the batch in flight; a file changed since it was read is read again; a
photo is never read twice otherwise. Searches find the words as soon as a batch is stored
(they are catalog texts, matched by FTS5 like captions).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field

from photofind.library import paths
from photofind.library.catalog.reads import TextReading
from photofind.ocr import MISSING
from photofind.ocr.reader import ENGINE
from photofind.services import storage
from photofind.services.jobs import CancelToken, Progress
from photofind.services.state import Service
from photofind.services.storage import LibraryReadOnly

BATCH = 16  # photos stored per transaction
MAX_CRASHES = 5  # reader restarts in one pass before it gives up
CRASHED = "the text reader crashed on this photo"


def unavailable_reason() -> str | None:
    """Why text cannot be read on this install (None: it can)."""
    if importlib.util.find_spec("rapidocr") is None:
        return "reading text in photos needs the rapidocr package (pip install rapidocr)"
    return None


@dataclass
class ReadReport:
    read: int = 0
    with_text: int = 0
    failed: int = 0
    cancelled: bool = False
    skipped: str | None = None  # why the pass did not run
    problems: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        if self.skipped:
            return f"text in photos not read: {self.skipped}"
        return (f"text read in {self.read} photos: {self.with_text} with text, "
                f"{self.failed} unreadable" + (" (cancelled)" if self.cancelled else ""))


class TextPass(Service):
    def read_texts(self, progress: Progress | None = None, cancel: CancelToken | None = None,
                   limit: int | None = None) -> ReadReport:
        """Read the text in every photo due (at most ``limit``), batch by batch, until none
        is left (photos embedded meanwhile included)."""
        report = ReadReport()
        if self.catalog.read_only:
            raise LibraryReadOnly(storage.read_only_reason(self.catalog.read_only,
                                                           self.data_dir))
        todo = self.catalog.count_to_read(ENGINE)
        if limit is not None:
            todo = min(todo, limit)
        if not todo:
            return report
        if (reason := unavailable_reason()) is not None:
            report.skipped = reason
            return report
        cancelled = (lambda: cancel.cancelled) if cancel is not None else (lambda: False)
        _Pass(self.catalog, report, progress, cancelled, todo, limit).run()
        return report


class _Pass:
    """One pass over the photos due, with the reader process it starts (and restarts after
    a photo that crashed it)."""

    def __init__(self, catalog, report: ReadReport, progress, cancelled, todo: int,
                 limit: int | None):
        self.catalog, self.report, self.progress, self.cancelled = catalog, report, progress, cancelled
        self.todo, self.limit, self.crashes = todo, limit, 0

    def run(self) -> None:
        from photofind.ocr.worker import ReaderProcess

        after = 0
        while not self.cancelled():
            reader = ReaderProcess()
            try:
                if (reason := reader.wait_ready(self.cancelled)) is not None:
                    self.report.cancelled = reason == "cancelled"
                    self.report.skipped = None if self.report.cancelled else reason
                    return
                after = self._read_all(reader, after)
            finally:
                reader.close()
            if after is None:
                return
        self.report.cancelled = True

    def _read_all(self, reader, after: int) -> int | None:
        """Read batches until none is due (None), or the reader died on a photo: that photo
        is recorded as unreadable and the id to go on after is returned."""
        report = self.report
        while self.limit is None or report.read < self.limit:
            left = None if self.limit is None else self.limit - report.read
            due = self.catalog.photos_to_read(ENGINE, min(BATCH, left or BATCH), after)
            if not due:
                return None
            readings = []
            for photo_id, lines, error in reader.read([(pid, raw) for pid, raw, _, _ in due],
                                                      self.cancelled):
                _, raw, size, mtime = due[len(readings)]
                readings.append(TextReading(photo_id, size, mtime, lines, error))
                self._show(raw, len(readings))
            if len(readings) < len(due) and self.cancelled():
                report.cancelled = True  # the batch in flight is not saved: read next time
                return None
            culprit = None
            if len(readings) < len(due):  # the reader died on this photo
                culprit = due[len(readings)]
                self.crashes += 1
                if self.crashes > MAX_CRASHES:
                    report.skipped = "the text reader stopped unexpectedly, again and again"
                    self._save(readings, due)
                    return None
                readings.append(TextReading(culprit[0], culprit[2], culprit[3], [], CRASHED))
            self._save([r for r in readings if r.error != MISSING], due)
            if culprit is not None:
                return culprit[0]
            after = due[-1][0]
        return None

    def _show(self, raw: bytes, in_batch: int) -> None:
        if self.progress:
            done = self.report.read + in_batch
            self.progress(done, max(self.todo, done), paths.to_text(os.fsdecode(raw)))

    def _save(self, readings: list[TextReading], due: list) -> None:
        """Store a batch (``due``: the photos it was read from); a file missing now (a drive
        pulled out mid-pass) is not stored and stays due."""
        if not readings:
            return
        self.catalog.save_readings(ENGINE, readings)
        raw_paths = {photo_id: raw for photo_id, raw, _, _ in due}
        report = self.report
        for reading in readings:
            report.read += 1
            report.with_text += bool(reading.lines)
            if reading.error:
                report.failed += 1
                report.problems.append((paths.to_text(os.fsdecode(raw_paths[reading.photo_id])),
                                        reading.error))
