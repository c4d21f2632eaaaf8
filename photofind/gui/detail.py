"""The detail pane: a larger picture, where and when it was taken, and what people wrote about
it (captions and tags with their source, when the core provides them)."""

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
    def __init__(self, actions: list, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setMinimumWidth(240)
        body = QWidget()
        layout = QVBoxLayout(body)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumHeight(180)
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
        self.buttons = QWidget()
        buttons = QHBoxLayout(self.buttons)
        buttons.setContentsMargins(0, 0, 0, 0)
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            buttons.addWidget(button)
        buttons.addStretch(1)
        for widget in (self.picture, self.title):
            layout.addWidget(widget)
        layout.addWidget(self.buttons)
        layout.addLayout(self.facts)
        layout.addWidget(self.texts)
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

    def set_info(self, hit: Hit, info: PhotoInfo | None) -> None:
        if hit is not self.hit:
            return  # the person moved on
        info = info or PhotoInfo([("Path", hit.photo.path)])
        facts = list(info.facts)
        if hit.score is not None:
            facts.append(("Score", f"{hit.score:.3f}"))
        self._set_facts(facts)
        self.texts.setText(_texts_html(info))

    def set_picture(self, hit: Hit, image: QImage | None) -> None:
        if hit is not self.hit:
            return
        if image is None:
            self.picture.setText("This photo cannot be shown (moved, offline or unreadable).")
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


def _texts_html(info: PhotoInfo) -> str:
    if not info.texts:
        return ""
    rows = []
    for kind, text, source in info.texts:
        origin = f" <span style='color:gray'>({html.escape(source)})</span>" if source else ""
        rows.append(f"<b>{html.escape(kind.capitalize())}:</b> {html.escape(text)}{origin}")
    return "<br>".join(rows)


def _breakable(path: str) -> str:
    """A path with zero-width spaces after separators, so a QLabel can wrap it."""
    return path.replace(os.sep, os.sep + "\u200b")
