"""The detail pane: a larger picture, where and when it was taken (and how we know), why it
matched, and what people wrote about it: captions and tags, each with where it was read."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photofind.gui.queries import Hit, PhotoInfo


class DetailPane(QScrollArea):
    def __init__(self, actions: list, edit_actions: list = (), parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setMinimumWidth(240)
        body = QWidget()
        layout = QVBoxLayout(body)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumHeight(180)
        self.picture.setWordWrap(True)  # its messages must fit a narrow pane
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        self.facts = QFormLayout()
        self.facts.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.texts = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.texts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = _button_row(actions)
        for widget in (self.picture, self.title):
            layout.addWidget(widget)
        layout.addWidget(self.buttons)
        layout.addLayout(self.facts)
        layout.addWidget(self.texts)
        self.edit_buttons = _button_row(edit_actions)  # under the texts they change
        layout.addWidget(self.edit_buttons)
        layout.addStretch(1)
        self.setWidget(body)
        self._pixmap: QPixmap | None = None
        self.hit: Hit | None = None
        self.show_hit(None)

    def show_hit(self, hit: Hit | None) -> None:
        """Show what the grid row already knows; picture and details follow when loaded."""
        self.hit, self._pixmap = hit, None
        self.picture.clear()
        self.picture.setText("" if hit else "Select a photo to see it here")
        self.title.setText(os.path.basename(hit.photo.path) if hit else "")
        self._set_facts([] if hit is None else [("Path", hit.photo.path)])
        self.texts.clear()
        self.buttons.setVisible(hit is not None)
        self.edit_buttons.setVisible(hit is not None)

    def set_info(self, hit: Hit, info: PhotoInfo | None) -> None:
        if hit is not self.hit:
            return  # the person moved on
        info = info or PhotoInfo([("Path", hit.photo.path)])
        self._set_facts(info.facts + match_facts(hit))
        self.texts.setText(_texts_html(info))

    def set_picture(self, hit: Hit, image: QImage | None) -> None:
        if hit is not self.hit:
            return
        if image is None:
            self.picture.setText(
                "This photo cannot be shown now: its drive or folder is not connected."
                if hit.offline else "This photo cannot be shown (moved, deleted or unreadable).")
            return
        self._pixmap = QPixmap.fromImage(image)
        self._fit_picture()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_picture()

    def _fit_picture(self) -> None:
        if self._pixmap is None:
            return
        width = max(100, self.viewport().width() - 24)
        height = max(180, min(width, int(self.viewport().height() * 0.55)))
        self.picture.setPixmap(self._pixmap.scaled(width, height,
                                                   Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.SmoothTransformation))

    def _set_facts(self, facts: list[tuple[str, str]]) -> None:
        while self.facts.rowCount():
            self.facts.removeRow(0)
        for label, value in facts:
            text = QLabel(value, wordWrap=True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if label == "Path":  # long paths must wrap anywhere, not only at spaces
                text.setText(_breakable(value))
            self.facts.addRow(f"{label}:", text)


def _button_row(actions) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for action in actions:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        layout.addWidget(button)
    layout.addStretch(1)
    return row


def match_facts(hit: Hit) -> list[tuple[str, str]]:
    """Why a result is where it is: how well it matches, a word match, the re-ranker."""
    facts = [] if hit.relevance is None else [("Match", f"{hit.relevance} of 100")]
    if hit.text_match:
        facts.append(("Matched", "your words in its captions, tags or text"))
    if hit.rerank_score is not None:
        facts.append(("Re-ranked", f"{hit.rerank_score:+.3f} to its score"))
    return facts


GROUPS = (("Captions", ("caption", "title")), ("Tags and people", ("tag", "person")),
          ("Text in photo", ("ocr",)))


def _texts_html(info: PhotoInfo) -> str:
    """Captions, then tags, each with a grey line saying where it was read."""
    parts = []
    for heading, kinds in GROUPS:
        rows = [f"{html.escape(text).replace(chr(10), '<br>')}<br>"
                f"<span style='color:gray; font-size:small'>"
                f"{html.escape(origin)}</span>"
                for kind, text, origin in info.texts if kind in kinds]
        if rows:
            parts.append(f"<p style='margin-top:8px'><b>{heading}</b></p>" +
                         "".join(f"<p style='margin:2px 0 6px 0'>{r}</p>" for r in rows))
    if not parts:
        return "<p style='color:gray'>No captions or tags.</p>"
    return "".join(parts)


def _breakable(path: str) -> str:
    """A path with zero-width spaces after separators, so a QLabel can wrap it."""
    return path.replace(os.sep, os.sep + "\u200b")
