"""Library status: what ``photofind status`` prints, as a window: counts, folders (offline
ones marked), the photos that could not be read and why, metadata that could not all be read,
notices; "Try again" re-reads the unreadable photos."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)


def summary_lines(status: dict) -> list[str]:
    """The counts in plain words."""
    lines = [f"{status['photos']:,} photos searchable"
             + (f", {status['errors']:,} could not be read" if status["errors"] else "")]
    reading = status.get("text_in_photos") or {}
    if reading.get("off"):
        lines.append("Text in photos: not read (turned off in Settings)")
    elif reading:
        line = f"Text in photos: read in {reading['read']:,}, found in {reading['with_text']:,}"
        if reading["to_read"]:
            line += f", {reading['to_read']:,} still to read"
        lines.append(line)
    lines.append(f"Model: {status['model']}")
    lines.append(f"Library data: {status['data_dir']} "
                 f"({status['catalog_bytes'] / 1e6:.1f} MB catalog)")
    return lines


class StatusDialog(QDialog):
    def __init__(self, status: dict, retry, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Library status")
        self.resize(760, 520)
        layout = QVBoxLayout(self)
        self.summary = QLabel("\n".join(summary_lines(status)), wordWrap=True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        self.folders = self._table(["Folder", "Photos", "State"], [
            (root["path"], f"{root['photos']:,}", "connected" if root["online"] else
             "not connected now (its photos are still found, marked offline)")
            for root in status["roots"]])
        layout.addWidget(QLabel("<b>Folders</b>"))
        layout.addWidget(self.folders)
        problems = [(os.path.basename(path), reason, path)
                    for path, reason in status["errors_list"]]
        problems += [(os.path.basename(path), f"metadata: {warning}", path)
                     for path, warning in status["metadata_warnings"]]
        self.problems = self._table(["File", "Why", "Where"], problems)
        layout.addWidget(QLabel(f"<b>Could not be read</b> ({len(problems):,})"))
        layout.addWidget(self.problems, 1)
        for notice in status.get("warnings") or []:
            layout.addWidget(QLabel("⚠ " + notice[:1].upper() + notice[1:], wordWrap=True))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.retry = QPushButton("Try again")
        self.retry.setToolTip("Read the photos that failed once more (after a download "
                              "finished, or a photo was repaired)")
        self.retry.setEnabled(bool(status["errors"]))
        self.retry.clicked.connect(lambda: (retry(), self.accept()))
        buttons.addButton(self.retry, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _table(self, headers: list[str], rows: list[tuple]) -> QTableWidget:
        table = QTableWidget(len(rows), len(headers), self)
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                table.setItem(r, c, item)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        return table
