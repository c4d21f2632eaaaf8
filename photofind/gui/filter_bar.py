"""The filter bar: date range, folder, camera, tag and caption, combinable with any query.

It only collects a ``SearchFilters``; the window debounces ``changed`` like typing and runs
the search. The folder combo mirrors the sidebar (one folder choice, two places to make it).
"""

from __future__ import annotations

import os

from PySide6.QtCore import QDate, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDateEdit,
    QLabel,
    QLineEdit,
    QToolBar,
    QToolButton,
)

from photofind.gui.queries import folder_tree
from photofind.search.filters import SearchFilters

ANY_DATE = QDate(1800, 1, 1)  # the lowest date stands for "any" (shown as such)
TEXT_ROLE = Qt.ItemDataRole.UserRole + 1  # a choice's has_text, beside has_caption (UserRole)
# (label, has_caption, has_text): what a photo's own words must be
CAPTION_CHOICES = (("with or without words", None, None), ("with a caption", True, None),
                   ("without a caption", False, None), ("with text in the photo", None, True))


class DateFilter(QDateEdit):
    """A date or "any". Delete/Backspace goes back to "any"; opening the calendar from "any"
    starts at today's month instead of the year 1800."""

    def __init__(self, tip: str, parent=None):
        super().__init__(parent, calendarPopup=True, displayFormat="yyyy-MM-dd")
        self.setMinimumDate(ANY_DATE)
        self.setSpecialValueText("any")
        self.setDate(ANY_DATE)
        self.setToolTip(f"{tip} (Delete: any date)")

    def value(self) -> str | None:
        return None if self.date() == ANY_DATE else self.date().toString(Qt.DateFormat.ISODate)

    def set_value(self, iso: str | None) -> None:
        self.setDate(QDate.fromString(iso, Qt.DateFormat.ISODate) if iso else ANY_DATE)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        was_any = self.value() is None
        super().mousePressEvent(event)
        if was_any:
            today = QDate.currentDate()
            self.calendarWidget().setCurrentPage(today.year(), today.month())

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.setDate(ANY_DATE)
        else:
            super().keyPressEvent(event)


class FilterBar(QToolBar):
    changed = Signal()  # any filter but the folder
    folder_chosen = Signal(object)  # a root path, or None for all folders

    def __init__(self, parent=None):
        super().__init__("Filters", parent, movable=False, objectName="filter-toolbar")
        self.date_from = DateFilter("Taken on or after")
        self.date_to = DateFilter("Taken on or before")
        self.folder = QComboBox(minimumContentsLength=10, toolTip="Only photos in this folder")
        self.folder.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.camera = QLineEdit(placeholderText="any camera", clearButtonEnabled=True,
                                toolTip="Part of the camera's make or model, e.g. “canon”")
        self.camera.setMaximumWidth(140)
        self.tag = QComboBox(editable=True, minimumContentsLength=16,
                             toolTip="A tag or a person's name, from your photos' metadata")
        self.tag.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.tag.lineEdit().setPlaceholderText("any tag or person")
        self.tag.lineEdit().setClearButtonEnabled(True)
        self.tag.completer().setFilterMode(Qt.MatchFlag.MatchContains)
        self.tag.completer().setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.caption = QComboBox()
        for text, has_caption, has_text in CAPTION_CHOICES:
            self.caption.addItem(text, has_caption)
            self.caption.setItemData(self.caption.count() - 1, has_text, TEXT_ROLE)
        self.clear_button = QToolButton(text="Clear", toolTip="Remove every filter")
        for label, widget in (("From", self.date_from), ("to", self.date_to),
                              ("Folder", self.folder), ("Camera", self.camera),
                              ("Tag", self.tag), (None, self.caption),
                              (None, self.clear_button)):
            if label:
                self.addWidget(QLabel(f"  {label} "))
            self.addWidget(widget)
        self._tree: list[tuple[str, int]] | None = None
        self.set_roots([])
        self._extra = False
        self.inputs = (self.date_from, self.date_to, self.camera, self.tag, self.caption)
        for signal in (self.date_from.dateChanged, self.date_to.dateChanged,
                       self.camera.textChanged, self.tag.currentTextChanged,
                       self.caption.currentIndexChanged):
            signal.connect(self._changed)
        self.folder.currentIndexChanged.connect(
            lambda: self.folder_chosen.emit(self.folder.currentData()))
        self.clear_button.clicked.connect(self.clear)
        self._changed()

    def filters(self, folder: str | None = None) -> SearchFilters:
        return SearchFilters(date_from=self.date_from.value(), date_to=self.date_to.value(),
                             folder=folder, camera=self.camera.text().strip() or None,
                             tag=self.tag.currentText().strip() or None,
                             has_caption=self.caption.currentData(),
                             has_text=self.caption.currentData(TEXT_ROLE))

    def set_filters(self, filters: SearchFilters) -> None:
        """Show ``filters`` (the folder aside); one ``changed`` follows."""
        for widget in self.inputs:
            widget.blockSignals(True)
        self.date_from.set_value(filters.date_from)
        self.date_to.set_value(filters.date_to)
        self.camera.setText(filters.camera or "")
        self.tag.setEditText(filters.tag or "")
        self.caption.setCurrentIndex(next(
            (i for i, (_, caption, text) in enumerate(CAPTION_CHOICES)
             if (caption, text) == (filters.has_caption, filters.has_text)), 0))
        for widget in self.inputs:
            widget.blockSignals(False)
        self._changed()

    def clear(self) -> None:
        self.set_filters(SearchFilters())

    def set_roots(self, paths: list[str], folders: list[str] = ()) -> None:
        """The added folders and, indented under each, its subfolders that hold photos."""
        tree = folder_tree(paths, list(folders))
        if tree == self._tree:
            return
        self._tree = tree
        current = self.folder.currentData()
        with QSignalBlocker(self.folder):
            self.folder.clear()
            self.folder.addItem("All folders", None)
            for path, depth in tree:
                name = os.path.basename(path.rstrip(os.sep)) or path
                self.folder.addItem("\u2003" * depth + name, path)  # em spaces: the tree
                self.folder.setItemData(self.folder.count() - 1, path,
                                        Qt.ItemDataRole.ToolTipRole)
        self.set_folder(current)

    def set_folder(self, path: str | None) -> None:
        """Follow the sidebar's choice without announcing it back."""
        with QSignalBlocker(self.folder):
            self.folder.setCurrentIndex(max(0, self.folder.findData(path)))

    def set_tags(self, names: list[str]) -> None:
        if names == self.tag_names():
            return
        text = self.tag.currentText()
        with QSignalBlocker(self.tag):
            self.tag.clear()
            self.tag.addItems(names)
            self.tag.setEditText(text)

    def tag_names(self) -> list[str]:
        """Every tag in the library, as last listed (the edit dialog's suggestions)."""
        return [self.tag.itemText(i) for i in range(self.tag.count())]

    def _changed(self) -> None:
        self.clear_button.setEnabled(self.filters().active() or self._extra)
        self.changed.emit()

    def allow_clear(self, extra: bool) -> None:
        """Something beside the bar is set (the window's score slider), which Clear resets
        too: Clear stays clickable while it is."""
        self._extra = extra
        self.clear_button.setEnabled(self.filters().active() or extra)
