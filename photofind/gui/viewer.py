"""The built-in viewer: a result large, then the next one, without leaving the app.

Double-click or Enter on a result opens it; the photo fits the window (never enlarged past
its pixels), Ctrl+wheel or +/- zoom, 0 fits again, 1 shows it pixel for pixel, a drag pans,
Left/Right (or Page Up/Down, Home/End) go through the results in their order, Esc goes back.
The picture comes from the same decoder as everything else (EXIF orientation honoured,
HEIC included), loaded off the UI thread and cached at ``VIEW_SIZE`` px.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QVBoxLayout

from photofind.gui.queries import Hit

VIEW_SIZE = 2048  # px, longest side of the cached picture the viewer shows
ZOOMS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # of VIEW_SIZE pixels

Loader = Callable[[object, int, Callable[[QImage], None], Callable[[Exception], None]], None]


class PhotoViewer(QDialog):
    """Shows ``hits[index]``; ``load(photo_row, size, on_done, on_error)`` fetches pictures."""

    def __init__(self, hits: list[Hit], index: int, load: Loader, parent=None):
        super().__init__(parent)
        self.setObjectName("photo-viewer")
        self.hits, self.index, self.load = list(hits), index, load
        self.image: QImage | None = None
        self.scale: float | None = None  # None: fit the window
        self._drag: QPoint | None = None
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.area = QScrollArea(alignment=Qt.AlignmentFlag.AlignCenter)
        self.area.setWidget(self.picture)
        self.area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.caption = QLabel()
        self.caption.setContentsMargins(8, 4, 8, 6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.area, 1)
        layout.addWidget(self.caption)
        if parent is not None:
            self.resize(parent.size() * 0.92)
        self.show_index(index)

    @property
    def hit(self) -> Hit:
        return self.hits[self.index]

    def show_index(self, index: int) -> None:
        self.index = max(0, min(len(self.hits) - 1, index))
        hit, self.image, self.scale = self.hit, None, None
        self.picture.setPixmap(QPixmap())
        self.picture.setText("Loading…")
        self.picture.adjustSize()
        self.setWindowTitle(f"{os.path.basename(hit.photo.path)} — photofind")
        self._caption()
        self.load(hit.photo, VIEW_SIZE, lambda image: self._loaded(hit, image),
                  lambda exc: self._failed(hit, exc))

    def _loaded(self, hit: Hit, image: QImage) -> None:
        if hit is self.hit:  # not a photo left behind by quick arrow presses
            self.image = image
            self._render()

    def _failed(self, hit: Hit, exc: Exception) -> None:
        if hit is self.hit:
            gone = not os.path.exists(hit.photo.file)
            self.picture.setText("This photo's file is not there now (moved, deleted, or "
                                 "its drive is not connected)." if gone else
                                 f"This photo cannot be shown: {exc}")
            self.picture.adjustSize()

    def _render(self) -> None:
        if self.image is None:
            return
        fit = min(1.0, self.area.viewport().width() / max(1, self.image.width()),
                  self.area.viewport().height() / max(1, self.image.height()))
        scale = fit if self.scale is None else self.scale
        size = self.image.size() * scale
        self.picture.setPixmap(QPixmap.fromImage(self.image).scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation))
        self.picture.adjustSize()
        self._caption(scale)

    def _caption(self, scale: float | None = None) -> None:
        zoom = "" if scale is None else f" · {round(scale * 100)} %"
        self.caption.setText(f"{os.path.basename(self.hit.photo.path)} · {self.index + 1} of "
                             f"{len(self.hits)}{zoom} · ← → next · +/− zoom · 0 fit · Esc back")

    def zoom(self, steps: int) -> None:
        """Up or down the ``ZOOMS`` ladder from the size shown now."""
        if self.image is None:
            return
        now = self.picture.pixmap().width() / max(1, self.image.width())
        bigger = [z for z in ZOOMS if z > now + 1e-3]
        smaller = [z for z in ZOOMS if z < now - 1e-3]
        if steps > 0 and bigger:
            self.scale = bigger[0]
        elif steps < 0 and smaller:
            self.scale = smaller[-1]
        self._render()

    def fit(self) -> None:
        self.scale = None
        self._render()

    # -- events ---------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        moves = {Qt.Key.Key_Right: 1, Qt.Key.Key_PageDown: 1, Qt.Key.Key_Space: 1,
                 Qt.Key.Key_Left: -1, Qt.Key.Key_PageUp: -1, Qt.Key.Key_Backspace: -1}
        if key in moves:
            self.show_index(self.index + moves[key])
        elif key == Qt.Key.Key_Home:
            self.show_index(0)
        elif key == Qt.Key.Key_End:
            self.show_index(len(self.hits) - 1)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1)
        elif key == Qt.Key.Key_Minus:
            self.zoom(-1)
        elif key == Qt.Key.Key_0:
            self.fit()
        elif key == Qt.Key.Key_1:
            self.scale = 1.0
            self._render()
        else:
            super().keyPressEvent(event)  # Esc closes

    def wheelEvent(self, event) -> None:  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
        else:
            super().wheelEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.scale is None:
            self._render()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._drag = event.position().toPoint()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._drag is not None:  # pan: the picture follows the pointer
            now = event.position().toPoint()
            delta = now - self._drag
            self._drag = now
            for bar, step in ((self.area.horizontalScrollBar(), delta.x()),
                              (self.area.verticalScrollBar(), delta.y())):
                bar.setValue(bar.value() - step)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._drag = None
