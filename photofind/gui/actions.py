"""Things to do with one photo, shared by the grid's context menu and the detail pane."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from photofind.gui.queries import Hit


class PhotoActions(QObject):
    """``open``, ``reveal``, ``similar`` and ``copy`` act on ``current()`` (the shown photo)."""

    def __init__(self, current: Callable[[], Hit | None], find_similar: Callable[[Hit], None],
                 parent: QObject, add_term: Callable[[Hit, str], None] | None = None,
                 view: Callable[[Hit], None] | None = None):
        super().__init__(parent)
        self.current = current
        self.view_here = view  # the built-in viewer, where the desktop has no photo viewer
        self.open = self._action("Open", self.open_outside,
                                 "Open the photo in your usual photo viewer")
        self.reveal = self._action("Show in folder", reveal, "Open the folder that holds it")
        self.similar = self._action("Find similar", find_similar, "Photos that look like this",
                                    QKeySequence("Ctrl+Shift+F"))
        self.copy = self._action("Copy path", copy_path, "Copy the file's path",
                                 QKeySequence("Ctrl+Shift+C"))
        self.all = [self.open, self.reveal, self.similar, self.copy]
        if add_term is not None:  # the query gains this photo as a term (+ or -)
            self.more = self._action("More like this", lambda hit: add_term(hit, "+"),
                                     "Add this photo to what you are looking for")
            self.less = self._action("Less like this", lambda hit: add_term(hit, "-"),
                                     "Push photos like this one down the results")
            self.all += [self.more, self.less]
        self.set_enabled(False)

    def _action(self, text: str, do: Callable[[Hit], None], tip: str,
                shortcut: QKeySequence | None = None) -> QAction:
        action = QAction(text, self.parent())
        action.setToolTip(tip)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda: self._run(do))
        return action

    def _run(self, do: Callable[[Hit], None]) -> None:
        hit = self.current()
        if hit is not None:
            do(hit)

    def set_enabled(self, enabled: bool) -> None:
        for action in self.all:
            action.setEnabled(enabled)


    def open_outside(self, hit: Hit) -> None:
        """The desktop's photo viewer; where there is none, say so and show it here."""
        if _there(hit) and not QDesktopServices.openUrl(
                QUrl.fromLocalFile(os.fsdecode(hit.photo.file))):
            _no_program("No program to open photos was found on this desktop.",
                        "It is shown in photofind's own viewer instead." if self.view_here
                        else "")
            if self.view_here is not None:
                self.view_here(hit)


def reveal(hit: Hit) -> None:
    if _there(hit) and not QDesktopServices.openUrl(
            QUrl.fromLocalFile(os.fsdecode(hit.photo.file.parent))):
        _no_program("No file manager could be opened on this desktop.",
                    f"The photo is in this folder:\n{hit.photo.file.parent}\n(its path is "
                    "copied, to paste where you need it).")
        copy_path(hit)


def _no_program(what: str, instead: str) -> None:
    QMessageBox.information(QApplication.activeWindow(), "photofind",
                            f"{what}\n\n{instead}".strip())


def _there(hit: Hit) -> bool:
    """Is the file there to open? If not, say why instead of silently doing nothing."""
    if os.path.exists(hit.photo.file):
        return True
    why = ("Its drive or folder is not connected now: plug it in (or mount it) and try "
           "again." if hit.offline else "The file has been moved or deleted since it was "
           "indexed.")
    QMessageBox.information(QApplication.activeWindow(), "photofind",
                            f"{hit.photo.path} cannot be opened.\n\n{why}")
    return False


def copy_path(hit: Hit) -> None:
    QGuiApplication.clipboard().setText(hit.photo.path)
