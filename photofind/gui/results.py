"""The results grid: a list model of hits, a delegate that paints thumbnail + score (and
badges when a caption/tag matched or the re-ranker moved it), and an icon-mode view that shows
a friendly sentence when it is empty."""

from __future__ import annotations

import os

from PySide6.QtCore import (
    QAbstractListModel,
    QDate,
    QLocale,
    QModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from photofind.gui.queries import Hit
from photofind.gui.thumbs import ThumbnailLoader

HIT_ROLE = Qt.ItemDataRole.UserRole + 1
PAD, TEXT_H = 4, 20
# thumbnail sizes (px): the default shows 30 photos whole in a 1280×800 window, both panes open
SMALLEST, DEFAULT_THUMB, LARGEST, ZOOM_STEP = 64, 96, 256, 16


class ResultsModel(QAbstractListModel):
    def __init__(self, thumbs: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.hits: list[Hit] = []
        self.order: str | None = None  # what the hits are sorted by (a key of SORT_ORDERS)
        self._rows_by_key: dict[str, list[int]] = {}
        self.set_loader(thumbs)

    def set_loader(self, thumbs: ThumbnailLoader) -> None:
        """Follow a new library's thumbnail loader (the settings may switch libraries)."""
        self.thumbs = thumbs
        thumbs.ready.connect(self._thumb_ready)

    def set_hits(self, hits: list[Hit], order: str | None = None) -> bool:
        """Show ``hits``, sorted by ``order``; when they only extend the current list (a
        folder being indexed while browsing), rows are appended so the view keeps its scroll
        position. Returns whether the list was replaced."""
        old = [(h.photo.id, h.score) for h in self.hits]
        new = [(h.photo.id, h.score) for h in hits]
        relabelled = order != self.order  # a date or a name under each photo: all redrawn
        self.order = order
        if not relabelled and old and len(new) > len(old) and new[:len(old)] == old:
            self.beginInsertRows(QModelIndex(), len(old), len(new) - 1)
            self.hits = list(hits)
            self._index_keys()
            self.endInsertRows()
            return False
        if new == old and not relabelled:
            return False
        self.beginResetModel()
        self.hits = list(hits)
        self._index_keys()
        self.endResetModel()
        return True

    def add_hits(self, hits: list[Hit]) -> int:
        """Append the photos of ``hits`` not shown yet (the next page of the same query),
        keeping the rows, scroll position and selection as they are; returns how many."""
        shown = {h.photo.id for h in self.hits}
        more = [h for h in hits if h.photo.id not in shown]
        if more:
            self.beginInsertRows(QModelIndex(), len(self.hits), len(self.hits) + len(more) - 1)
            self.hits.extend(more)
            self._index_keys()
            self.endInsertRows()
        return len(more)

    def _index_keys(self) -> None:
        self._rows_by_key = {}
        for row, hit in enumerate(self.hits):
            self._rows_by_key.setdefault(ThumbnailLoader.key(hit.photo), []).append(row)

    def row_of(self, photo_id: int) -> int | None:
        return next((i for i, h in enumerate(self.hits) if h.photo.id == photo_id), None)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self.hits):
            return None
        hit = self.hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:  # sorted by date, the date shows the order
            if self.order in ("newest", "oldest"):
                return short_date(hit.photo.taken_at)
            return os.path.basename(hit.photo.path)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbs.pixmap(hit.photo)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [hit.photo.path] + ([] if hit.relevance is None else
                                        [match_line(hit, ranked=self.order is None)])
            lines += [tip for _, tip in badges(hit)]
            return "\n".join(lines)
        if role == HIT_ROLE:
            return hit
        return None

    def _thumb_ready(self, key: str) -> None:
        for row in self._rows_by_key.get(key, []):
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


class ResultDelegate(QStyledItemDelegate):
    """Thumbnail (aspect kept, centred), then file name and score on one line."""

    thumb_px = DEFAULT_THUMB

    def sizeHint(self, option, index) -> QSize:  # noqa: N802
        return QSize(self.thumb_px + 2 * PAD, self.thumb_px + TEXT_H + 2 * PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        style = option.widget.style() if option.widget else None
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if style:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter,
                                option.widget)
        cell = option.rect.adjusted(PAD, PAD, -PAD, -PAD)
        frame = QRect(cell.left(), cell.top(), cell.width(), self.thumb_px)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if pixmap is not None and not pixmap.isNull():
            size = pixmap.size().scaled(frame.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(frame.center())
            painter.drawPixmap(target, pixmap)
        else:
            painter.fillRect(frame.adjusted(8, 8, -8, -8), option.palette.color(
                QPalette.ColorRole.AlternateBase))
        hit: Hit = index.data(HIT_ROLE)
        _paint_badges(painter, option, frame, hit)
        text_rect = QRect(cell.left() + 2, frame.bottom() + 4, cell.width() - 4, TEXT_H - 4)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(option.palette.color(role))
        score_w = 0
        if hit.relevance is not None:
            score = f"{hit.relevance}"
            score_w = option.fontMetrics.horizontalAdvance(score) + 8
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignRight |
                             Qt.AlignmentFlag.AlignVCenter, score)
        name = option.fontMetrics.elidedText(index.data(), Qt.TextElideMode.ElideMiddle,
                                             text_rect.width() - score_w)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         name)
        painter.restore()


def short_date(taken_at: str | None) -> str:
    """The day a photo was taken as the desktop writes dates, short ("7/2/19" in the US):
    an ISO date beside a two-digit score is wider than a thumbnail."""
    day = QDate.fromString((taken_at or "")[:10], "yyyy-MM-dd")
    return QLocale().toString(day, QLocale.FormatType.ShortFormat) if day.isValid() \
        else "date unknown"


def match_line(hit: Hit, ranked: bool = True) -> str:
    """The tooltip's explanation of the number under a result (which says that it orders
    the results only where it does: not when they are sorted by date or name)."""
    return (f"match {hit.relevance} of 100: how close the picture is to what you asked for, "
            "lifted by your words in its captions, tags or text" +
            ("; results are in this order" if ranked else ""))


def badges(hit: Hit) -> list[tuple[str, str]]:
    """(badge, tooltip line) for what lifted this result besides the picture itself."""
    found = []
    if hit.text_match:
        found.append(("words", "matched your words in its captions, tags or text"))
    if hit.rerank_score is not None:
        found.append(("re-ranked", f"re-ranked ({hit.rerank_score:+.2f} to its score)"))
    if hit.offline:
        found.append(("offline", "its drive or folder is not connected now"))
    return found


def _paint_badges(painter: QPainter, option, frame: QRect, hit: Hit) -> None:
    """Small pills in the thumbnail's top-left corner."""
    font = option.font
    font.setPointSizeF(font.pointSizeF() * 0.8)
    painter.setFont(font)
    metrics, x = painter.fontMetrics(), frame.left() + 4
    for text, _ in badges(hit):
        pill = QRect(x, frame.top() + 4, metrics.horizontalAdvance(text) + 10,
                     metrics.height() + 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(30, 30, 30, 170))
        painter.drawRoundedRect(pill, 6, 6)
        painter.setPen(QColor("white"))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
        x = pill.right() + 4
    painter.setFont(option.font)


class ResultsView(QListView):
    """Icon grid; paints ``empty_text`` centred when there is nothing to show; Ctrl+wheel
    (or ``set_thumb_size``) zooms; ``near_end`` when scrolled close to the last row, so the
    window can fetch the next page."""

    hit_activated = Signal(object)
    zoomed = Signal(int)
    near_end = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setSpacing(4)
        # several at once (Ctrl/Shift+click, Ctrl+A): captions and tags are edited together
        self.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setItemDelegate(ResultDelegate(self))
        self.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.setMouseTracking(True)
        self.empty_text = ""
        self.drop_hint = False
        # double-click, or Enter (the platform's "activate"), opens the viewer
        self.activated.connect(lambda index: self.hit_activated.emit(index.data(HIT_ROLE)))
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    @property
    def thumb_size(self) -> int:
        return self.itemDelegate().thumb_px

    def set_thumb_size(self, px: int) -> None:
        px = max(SMALLEST, min(LARGEST, int(px)))
        if px == self.thumb_size:
            return
        current = self.currentIndex()
        self.itemDelegate().thumb_px = px
        self._spread_columns()
        if current.isValid():
            self.scrollTo(current)  # the photo being looked at stays in view
        self.zoomed.emit(px)

    def wheelEvent(self, event) -> None:  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120
            if steps:
                self.set_thumb_size(self.thumb_size + round(steps * ZOOM_STEP) or
                                    (ZOOM_STEP if steps > 0 else -ZOOM_STEP))
            event.accept()
            return
        super().wheelEvent(event)

    def _scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        if value >= bar.maximum() - bar.pageStep():
            self.near_end.emit()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._spread_columns()

    def _spread_columns(self) -> None:
        """Spread the columns over the whole width instead of leaving a ragged right edge
        (the scroll bar's width is always kept free, so columns never flip back and forth)."""
        cell, spacing = self.itemDelegate().sizeHint(None, None), self.spacing()
        free = self.width() - 2 * self.frameWidth() - self.verticalScrollBar().sizeHint().width()
        free -= spacing  # icon mode puts ``spacing`` before the first column and after each
        columns = max(1, free // (cell.width() + 2 * spacing))
        self.setGridSize(QSize(free // columns - spacing, cell.height() + 2 * spacing))

    def set_empty_text(self, text: str) -> None:
        self.empty_text = text
        self.viewport().update()

    def set_drop_hint(self, on: bool) -> None:
        self.drop_hint = on
        self.viewport().update()

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if self.drop_hint:
            self._paint_drop_hint()
        elif self.model() is not None and self.model().rowCount() == 0 and self.empty_text:
            painter = QPainter(self.viewport())
            font = painter.font()
            font.setPointSizeF(font.pointSizeF() * 1.3)
            painter.setFont(font)
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.viewport().rect().adjusted(24, 24, -24, -24),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.empty_text)

    def _paint_drop_hint(self) -> None:
        painter = QPainter(self.viewport())
        color = self.palette().color(QPalette.ColorRole.Highlight)
        painter.setPen(QPen(color, 3, Qt.PenStyle.DashLine))
        fill = QColor(color)
        fill.setAlpha(30)
        painter.setBrush(fill)
        painter.drawRoundedRect(self.viewport().rect().adjusted(8, 8, -8, -8), 12, 12)
        painter.setPen(color)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter,
                         "Drop to add these photos to your library")

    def current_hit(self) -> Hit | None:
        index = self.currentIndex()
        return index.data(HIT_ROLE) if index.isValid() else None

    def selected_hits(self) -> list[Hit]:
        """The selected results in grid order."""
        rows = sorted(index.row() for index in self.selectionModel().selectedIndexes())
        return [self.model().index(row, 0).data(HIT_ROLE) for row in rows]
