"""The folder sidebar: "All photos" and each library folder with its photo count, whether it
is watched for changes ("watching", "polling", "offline"), its indexing state and a remove
button. Selecting a folder limits the search to it."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
LIVE = {  # watcher state -> (dot colour, tooltip)
    "watching": ("#2e9d4f", "Watching: new and edited photos are added as they appear"),
    "polling": ("#c88a00", "Polling every few seconds: changes on this drive or share raise "
                           "no events, so photofind looks for them"),
    "offline": ("#888888", "Offline: the folder is missing (unplugged drive, unmounted "
                           "share); its photos are kept and come back with it"),
}


class _FolderRow(QWidget):
    """Name, "123 photos · indexing…" and a remove button."""

    def __init__(self, title: str, detail: str, on_remove=None):
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        texts = QVBoxLayout()
        texts.setSpacing(0)
        self.title = QLabel(title)
        self.detail = QLabel(detail, textFormat=Qt.TextFormat.RichText)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.detail.setEnabled(False)  # greyed: secondary text
        texts.addWidget(self.title)
        texts.addWidget(self.detail)
        layout.addLayout(texts, 1)
        if on_remove is not None:
            remove = QToolButton(self, text="✕", autoRaise=True)
            remove.setToolTip("Remove this folder from the library (the photos stay on disk)")
            remove.clicked.connect(on_remove)
            layout.addWidget(remove)


class FolderSidebar(QListWidget):
    folder_selected = Signal(object)  # a folder path, or None for all photos
    remove_requested = Signal(str)
    rescan_requested = Signal(str)
    reveal_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.currentItemChanged.connect(self._current_changed)
        self.setMinimumWidth(180)
        self._selected: str | None = None

    def set_folders(self, total: int, roots: list[dict], states: dict[str, str],
                    live: dict[str, str] | None = None) -> None:
        """``roots``: the library status's roots; ``states``: path -> "indexing…"/"waiting…"
        for folders in the indexing queue (shown even before the catalog knows them);
        ``live``: path -> the watcher's "watching", "polling" or "offline"."""
        known = {r["path"]: r for r in roots}
        for path in states:
            known.setdefault(path, {"path": path, "photos": 0, "online": True})
        rows = [(None, "All photos", _count(total), "")]
        for path in sorted(known):
            root = known[path]
            mode = (live or {}).get(path) or ("" if root.get("online", True) else "offline")
            detail = _count(root["photos"])
            if mode:
                color, _ = LIVE[mode]
                detail = f"<span style='color:{color}'>●</span> {detail} · {mode}"
            if path in states:
                detail += f" · {html.escape(states[path])}"
            name = os.path.basename(path.rstrip(os.sep)) or path
            rows.append((path, name, detail, mode))
        if [r[0] for r in rows] == [self.item(i).data(PATH_ROLE) for i in range(self.count())]:
            for i, row in enumerate(rows):  # same folders: update counts and states in place
                self._update(self.item(i), *row)
            return
        self.blockSignals(True)
        self.clear()
        for row in rows:
            self._add(*row)
        paths = [r[0] for r in rows]
        self.setCurrentRow(paths.index(self._selected) if self._selected in paths else 0)
        self.blockSignals(False)
        if self._selected not in paths:
            self._current_changed(self.currentItem())

    def _add(self, path: str | None, title: str, detail: str, mode: str) -> None:
        item = QListWidgetItem(self)
        item.setData(PATH_ROLE, path)
        remove = None if path is None else (lambda: self.remove_requested.emit(path))
        row = _FolderRow(title, detail, remove)
        item.setSizeHint(QSize(0, row.sizeHint().height()))
        self.setItemWidget(item, row)
        self._update(item, path, title, detail, mode)

    def _update(self, item: QListWidgetItem, path: str | None, _title: str, detail: str,
                mode: str) -> None:
        self.itemWidget(item).detail.setText(detail)
        tip = path or "Every photo in the library"
        item.setToolTip(f"{tip}\n{LIVE[mode][1]}" if mode else tip)

    def select(self, path: str | None) -> None:
        """Show ``path`` as the chosen folder without announcing it (the filter bar chose)."""
        paths = [self.item(i).data(PATH_ROLE) for i in range(self.count())]
        if path in paths:
            self.blockSignals(True)
            self.setCurrentRow(paths.index(path))
            self.blockSignals(False)
            self._selected = path

    def _current_changed(self, item) -> None:
        path = item.data(PATH_ROLE) if item is not None else None
        if path != self._selected:
            self._selected = path
            self.folder_selected.emit(path)

    def _menu(self, pos) -> None:
        item = self.itemAt(pos)
        path = item.data(PATH_ROLE) if item is not None else None
        if path is None:
            return
        menu = QMenu(self)
        menu.addAction("Show in file manager", lambda: self.reveal_requested.emit(path))
        menu.addAction("Look for changes", lambda: self.rescan_requested.emit(path))
        menu.addSeparator()
        menu.addAction("Remove from library…", lambda: self.remove_requested.emit(path))
        menu.exec(self.viewport().mapToGlobal(pos))


def _count(photos: int) -> str:
    return f"{photos:,} photo" + ("" if photos == 1 else "s")
