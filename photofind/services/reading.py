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
from photofind.ocr.reader import ENGINE
from photofind.services import storage
from photofind.services.jobs import CancelToken, Progress
from photofind.services.state import Service
from photofind.services.storage import LibraryReadOnly

BATCH = 16  # photos stored per transaction
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
        """Read the text in every photo due (at most ``limit``), batch by batch."""
        report = ReadReport()
        if self.catalog.read_only:
            raise LibraryReadOnly(storage.read_only_reason(self.catalog.read_only,
                                                           self.data_dir))
        todo = self.catalog.reading_counts(ENGINE)["to_read"]
        if limit is not None:
            todo = min(todo, limit)
        if not todo:
            return report
        if (reason := unavailable_reason()) is not None:
            report.skipped = reason
            return report
        from photofind.ocr.worker import ReaderProcess

        cancelled = (lambda: cancel.cancelled) if cancel is not None else (lambda: False)
        reader = ReaderProcess()
        try:
            if (reason := reader.wait_ready(cancelled)) is not None:
                report.cancelled = reason == "cancelled"
                report.skipped = None if report.cancelled else reason
                return report
            self._read_all(reader, todo, report, progress, cancelled)
        finally:
            reader.close()
        return report

    def _read_all(self, reader, todo: int, report: ReadReport, progress, cancelled) -> None:
        after = 0
        while report.read < todo:
            due = self.catalog.photos_to_read(ENGINE, min(BATCH, todo - report.read), after)
            if not due:
                return
            by_id = {photo_id: (raw, size, mtime) for photo_id, raw, size, mtime in due}
            readings = []
            for photo_id, lines, error in reader.read([(pid, raw) for pid, raw, _, _ in due],
                                                      cancelled):
                raw, size, mtime = by_id[photo_id]
                readings.append(TextReading(photo_id, size, mtime, lines, error))
                if progress:
                    progress(report.read + len(readings), todo,
                             paths.to_text(os.fsdecode(raw)))
            if len(readings) < len(due):  # cancelled, or the reader died: nothing half-saved
                report.cancelled = cancelled()
                if not report.cancelled:
                    report.skipped = "the text reader stopped unexpectedly"
                return
            self.catalog.save_readings(ENGINE, readings)
            after = due[-1][0]
            for reading in readings:
                report.read += 1
                report.with_text += bool(reading.lines)
                if reading.error:
                    report.failed += 1
                    report.problems.append((paths.to_text(os.fsdecode(by_id[reading.photo_id][0])),
                                            reading.error))
