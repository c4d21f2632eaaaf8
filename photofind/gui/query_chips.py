"""The photos a query is made of, as removable chips under the search box.

"More like this" / "Less like this" make a photo a term of the query (``beach - ./x.jpg``).
A path typed into the search box is long and hard to remove; a chip shows the file's name
with its sign, says the whole path in its tooltip and goes away with one click, and the
search box keeps only the words the person typed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

MORE, LESS = "+", "-"


@dataclass(frozen=True)
class PhotoTerm:
    sign: str  # MORE or LESS
    path: str

    @property
    def label(self) -> str:
        return f"{'＋' if self.sign == MORE else '−'} {os.path.basename(self.path)}  ✕"


def compose(words: str, similar_to: str | None, terms: list[PhotoTerm]) -> str:
    """The query the chips and the search box make together: the words (or the photo being
    matched) first, then each photo with its sign; a first photo with '+' starts the query
    when there are no words. Terms with '-' and nothing before them are dropped: there is
    nothing to push away from."""
    parts = [words.strip() or similar_to or ""]
    for term in terms:
        if not parts[0] and term.sign == MORE:
            parts[0] = term.path
        elif parts[0]:
            parts.append(f"{term.sign} {term.path}")
    return " ".join(parts)


def anchored(words: str, similar_to: str | None, terms: list[PhotoTerm]) -> bool:
    """Whether a '-' photo would have something to push away from in ``compose``."""
    return bool(words.strip() or similar_to or any(t.sign == MORE for t in terms))


class QueryChips(QWidget):
    """A row of chips, hidden when empty; ``changed`` when one is removed."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.terms: list[PhotoTerm] = []
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(6, 2, 6, 0)
        self._row.addWidget(QLabel("Photos in this search:"))
        self._row.addStretch(1)
        # many chips are cut at the window's edge instead of widening the window
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setVisible(False)

    def add(self, term: PhotoTerm) -> None:
        """Add a photo (the same photo again replaces its earlier chip: its sign may flip)."""
        self.terms = [t for t in self.terms if t.path != term.path] + [term]
        self._show()

    def remove(self, term: PhotoTerm) -> None:
        self.terms = [t for t in self.terms if t != term]
        self._show()
        self.changed.emit()

    def clear(self) -> None:
        self.terms = []
        self._show()

    def buttons(self) -> list[QToolButton]:
        return [self._row.itemAt(i).widget() for i in range(1, self._row.count() - 1)]

    def _show(self) -> None:
        for button in self.buttons():
            self._row.removeWidget(button)
            button.deleteLater()
        for position, term in enumerate(self.terms, start=1):
            button = QToolButton(text=term.label, autoRaise=False)
            verb = "More" if term.sign == MORE else "Less"
            button.setToolTip(f"{verb} like {term.path}\nClick to take it out of the search")
            button.setAccessibleName(f"Remove {os.path.basename(term.path)} from the search")
            button.clicked.connect(lambda _=False, t=term: self.remove(t))
            self._row.insertWidget(position, button)
        self.setVisible(bool(self.terms))
