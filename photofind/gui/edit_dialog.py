"""Writing your own caption and tags, for the photo shown or every photo selected.

The dialog shows what ``PhotoLibrary.editable_texts`` found and returns a ``TextEdit``: only
what the person changed (a caption left as it was stays ``None``, so editing the tags of 50
photos does not give them one caption). Tags read from the photos' own files are listed
but cannot be removed here: photofind does not change those files.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from photofind.gui.dialog_parts import confirm_buttons, quiet_note
from photofind.services.editing import EditableTexts, TextEdit

TAG_ROLE = Qt.ItemDataRole.UserRole


class EditTextsDialog(QDialog):
    def __init__(self, current: EditableTexts, known_tags: list[str], sidecars: bool,
                 parent=None):
        super().__init__(parent)
        self.current = current
        many = current.photos > 1
        self.setWindowTitle(f"Caption and tags of {current.photos} photos" if many
                            else "Caption and tags")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)

        layout.addWidget(QLabel("<b>Caption</b> — what is in the photo, in your words"))
        self.caption = QPlainTextEdit(current.caption)
        self.caption.setTabChangesFocus(True)
        self.caption.setFixedHeight(self.caption.fontMetrics().lineSpacing() * 4 + 12)
        if many and not current.caption:
            self.caption.setPlaceholderText(f"Leave empty to keep each photo's caption, or "
                                            f"type one for all {current.photos}")
        layout.addWidget(self.caption)

        layout.addWidget(QLabel("<b>Your tags</b> — names, places, events"))
        self.tags = QListWidget()
        self.tags.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.tags.setMaximumHeight(110)
        for tag, count in sorted(current.own_tags.items(), key=lambda t: t[0].casefold()):
            self._list_tag(tag, count)
        layout.addWidget(self.tags)
        row = QHBoxLayout()
        self.new_tag = QLineEdit(placeholderText="Add a tag, e.g. Biscuit")
        completer = QCompleter(known_tags, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.new_tag.setCompleter(completer)
        self.new_tag.installEventFilter(self)  # Enter adds the typed tag, not Save
        add = QPushButton("Add")
        add.clicked.connect(self.add_typed_tag)
        self.remove = QPushButton("Remove")
        self.remove.setEnabled(False)
        self.remove.clicked.connect(self.remove_selected)
        self.tags.itemSelectionChanged.connect(
            lambda: self.remove.setEnabled(bool(self.tags.selectedItems())))
        QShortcut(QKeySequence.StandardKey.Delete, self.tags, self.remove_selected)
        for widget in (self.new_tag, add, self.remove):
            row.addWidget(widget, 1 if widget is self.new_tag else 0)
        layout.addLayout(row)

        if current.file_tags:
            names = ", ".join(_counted(t, n, current.photos)
                              for t, n in sorted(current.file_tags.items()))
            layout.addWidget(quiet_note(f"Also tagged in the photo files: {names}. photofind "
                                        "does not change those files, so these stay."))
        where = ("Saved in photofind's library, and in a .xmp file beside each photo (your "
                 "setting), which other photo programs read too." if sidecars else
                 "Saved in photofind's library: search and Adapt use it at once. "
                 "Your photo files are not changed.")
        layout.addWidget(quiet_note(where))
        layout.addWidget(confirm_buttons(self, QDialogButtonBox.StandardButton.Save))
        self.added: dict[str, str] = {}  # casefold -> spelling
        self.removed: dict[str, str] = {}

    def _list_tag(self, tag: str, count: int) -> None:
        item = QListWidgetItem(_counted(tag, count, self.current.photos))
        item.setData(TAG_ROLE, tag)
        self.tags.addItem(item)

    def listed_tags(self) -> list[str]:
        return [self.tags.item(i).data(TAG_ROLE) for i in range(self.tags.count())]

    def add_typed_tag(self) -> None:
        """The typed tag (commas separate several) joins every photo edited."""
        for tag in (t.strip() for t in self.new_tag.text().split(",")):
            if not tag:
                continue
            key = tag.casefold()
            self.removed.pop(key, None)
            self.added[key] = tag
            for i in range(self.tags.count()):
                if self.tags.item(i).data(TAG_ROLE).casefold() == key:
                    self.tags.takeItem(i)
                    break
            self._list_tag(tag, self.current.photos)
        self.new_tag.clear()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter in the tag field adds the tag and keeps the dialog open (a person goes on
        typing the caption); with the field empty, Enter saves as anywhere else."""
        if (watched is self.new_tag and event.type() == QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and self.new_tag.text().strip()):
            self.add_typed_tag()
            return True
        return super().eventFilter(watched, event)

    def remove_selected(self) -> None:
        for item in self.tags.selectedItems():
            tag = item.data(TAG_ROLE)
            self.added.pop(tag.casefold(), None)
            if any(t.casefold() == tag.casefold() for t in self.current.own_tags):
                self.removed[tag.casefold()] = tag
            self.tags.takeItem(self.tags.row(item))

    def accept(self) -> None:
        if self.new_tag.text().strip():  # typed but not added yet: surely meant
            self.add_typed_tag()
        super().accept()

    def edit(self) -> TextEdit:
        text = self.caption.toPlainText().strip()
        many_unchanged = self.current.photos > 1 and not text and not self.current.caption
        caption = None if text == self.current.caption or many_unchanged else text
        return TextEdit(caption, tuple(self.added.values()), tuple(self.removed.values()))


def _counted(tag: str, count: int, photos: int) -> str:
    return tag if photos == 1 or count == photos else f"{tag}  ({count} of {photos} photos)"
