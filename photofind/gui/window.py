"""The main window: folders (and whether they are watched) on the left, search, filters and
results in the middle, details on the right, indexing progress at the bottom. It holds no
library logic: it sends requests to a ``Backend`` and shows what comes back."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace

from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QSlider,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from photofind.embed.spec import ModelUnavailable
from photofind.gui.actions import PhotoActions
from photofind.gui.backend import Backend
from photofind.gui.detail import DetailPane
from photofind.gui.dialogs import WindowDialogs
from photofind.gui.filter_bar import FilterBar
from photofind.gui.folder_jobs import FolderJobs
from photofind.gui.menus import build_menus, sort_key
from photofind.gui.model_gate import ModelGate
from photofind.gui.progress import IndexProgress
from photofind.gui.queries import (
    BROWSE_PAGE,
    SEARCH_PAGE,
    SORT_ORDERS,
    SORTED_MATCHES,
    Hit,
    Query,
    results_header,
    summary_text,
)
from photofind.gui.query_chips import LESS, PhotoTerm, QueryChips, anchored, compose
from photofind.gui.results import (
    DEFAULT_THUMB,
    HIT_ROLE,
    LARGEST,
    SMALLEST,
    ZOOM_STEP,
    ResultsModel,
    ResultsView,
)
from photofind.gui.settings import Settings, model_label
from photofind.gui.sidebar import FolderSidebar
from photofind.gui.viewer import PhotoViewer
from photofind.services.options import open_library

DEBOUNCE_MS = 300
EMPTY_LIBRARY = "Drop a folder here to start\n\n(or use Add folder… in the toolbar)"
INDEXING_EMPTY = "Indexing your photos…\nthey appear here as soon as they are ready"
NO_MATCH = "No photos match — try fewer words"
WAITING_FOR_MODEL = "Your photos are indexed as soon as the search model is here"
NO_FILTER_MATCH = "No photos match these filters"
LIVE_POLL_MS = 1000  # how often the sidebar asks the watcher for each folder's state


class MainWindow(FolderJobs, WindowDialogs, ModelGate, QMainWindow):
    def __init__(self, settings: Settings, overrides=None):
        super().__init__()
        self.settings, self.overrides = settings, overrides
        self.setWindowTitle("photofind")
        self.setAcceptDrops(True)
        self.backend: Backend | None = None
        self.options = SimpleNamespace()
        self.photo_count, self.roots, self.states = 0, [], {}
        self.jobs = self.pending = 0
        self.status_asked = self.status_shown = 0  # replies can overtake each other
        self.similar_to: str | None = None
        self.asked = Query()
        self.extending = False  # a next page of the results is on its way
        self.has_more = False  # the last answer had more than a page
        self.tag_photos = 0  # the last query named a tag: photos like its photos were found
        self.folder: str | None = None
        self.sort_order: str | None = None  # View › Sort by (a key of SORT_ORDERS)
        self.live_states: dict[str, str] = {}
        self.adapt_options: dict = {}  # passed to photofind.services.adapting.adapt (variants…)
        self.adapt_dialog = None  # photofind.gui.adapt_dialog.AdaptDialog, once opened
        self.edit_dialog = None  # photofind.gui.edit_dialog.EditTextsDialog, the last one
        self.queued_paths: list[str] = []  # folders added before the model was here
        self.last_report = None
        self._asking_for_model = False
        # who hears about failures instead of a dialog (the self-test: a modal dialog would
        # wait forever offscreen); None: the person, in a dialog
        self.on_problem: Callable[[Exception], None] | None = None
        self.debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.debounce.timeout.connect(self.run_search)
        self.live_timer = QTimer(self, interval=LIVE_POLL_MS)
        self.live_timer.timeout.connect(self._poll_live)
        self.photo_actions = PhotoActions(lambda: self.detail.hit, self.find_similar, self,
                                          self.add_term, self.view_photo)
        self.viewer: PhotoViewer | None = None
        self._build()
        self.open_backend(settings.library_options(overrides))
        self.restore_state()

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.search = QLineEdit(placeholderText="Describe a photo: “red kayak on a lake”",
                                clearButtonEnabled=True)
        self.search.textEdited.connect(self._text_edited)
        self.search.returnPressed.connect(self.run_search)
        self.min_score = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=50)
        self.min_score.setFixedWidth(120)
        self.min_score.setToolTip("Hide results that match less well than this")
        self.min_score_label = QLabel()
        self.min_score.valueChanged.connect(self._min_score_changed)
        self._min_score_changed(0)
        self.add_action = self._action("Add folder…", self.choose_folder, "Ctrl+O")
        self.settings_action = self._action("Settings…", self.open_settings, "Ctrl+,")
        self.adapt_action = self._action("Adapt to my library…", self.open_adapt)
        self.rescan_action = self._action("Look for changes", self.rescan_all, "F5")
        self.find_action = self._action("Find", self.search.setFocus,
                                        QKeySequence.StandardKey.Find)
        self.edit_action = self._action("Edit caption and tags…", self.edit_texts, "Ctrl+E")
        self.edit_action.setToolTip("Write your own caption and tags for the selected photos")
        self.adapt_action.setToolTip("Teach the model your own captions and tags")
        self.addActions(self.photo_actions.all)

        toolbar = QToolBar("Main", movable=False, objectName="main-toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.add_action)
        toolbar.addWidget(self.search)
        toolbar.addWidget(QLabel("  Min score "))
        toolbar.addWidget(self.min_score)
        toolbar.addWidget(self.min_score_label)
        toolbar.addSeparator()
        toolbar.addAction(self.adapt_action)
        toolbar.addAction(self.settings_action)
        self.addToolBar(toolbar)
        self.addToolBarBreak()
        self.filter_bar = FilterBar()
        self.filter_bar.changed.connect(self.debounce.start)
        self.filter_bar.folder_chosen.connect(self._folder_selected)
        self.filter_bar.clear_button.clicked.connect(lambda: self.min_score.setValue(0))
        self.addToolBar(self.filter_bar)

        self.sidebar = FolderSidebar()
        self.sidebar.folder_selected.connect(self._folder_selected)
        self.sidebar.remove_requested.connect(self.remove_folder)
        self.sidebar.rescan_requested.connect(lambda path: self.add_paths([path]))
        self.sidebar.reveal_requested.connect(
            lambda path: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
        self.header = QLabel(textFormat=Qt.TextFormat.RichText)
        self.header.setContentsMargins(6, 4, 6, 2)
        # a long query is cut at the window's edge instead of widening the window
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.header.linkActivated.connect(lambda _link: self.clear_similar())
        self.grid = ResultsView()
        self.grid.hit_activated.connect(lambda hit: hit and self.view_photo(hit))
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self.detail = DetailPane(self.photo_actions.all[:3], [self.edit_action])
        center = QWidget()
        column = QVBoxLayout(center)
        column.setContentsMargins(0, 0, 0, 0)
        self.chips = QueryChips()
        self.chips.changed.connect(self.run_search)
        column.addWidget(self.chips)
        column.addWidget(self.header)
        column.addWidget(self.grid, 1)
        self.splitter = QSplitter(objectName="main-splitter")
        for widget, stretch in ((self.sidebar, 0), (center, 1), (self.detail, 0)):
            self.splitter.addWidget(widget)
            self.splitter.setStretchFactor(self.splitter.count() - 1, stretch)
        self.splitter.setSizes([200, 800, 280])
        self.setCentralWidget(self.splitter)

        self.summary = QLabel()
        self.progress = IndexProgress()
        self.progress.cancel_requested.connect(lambda: self.backend.cancel_indexing())
        self.reading = QLabel(visible=False, objectName="text-reading")
        self.statusBar().addWidget(self.summary, 1)
        self.statusBar().addPermanentWidget(self.reading)
        self.statusBar().addPermanentWidget(self.progress)
        self.zoom = QSlider(Qt.Orientation.Horizontal, minimum=SMALLEST, maximum=LARGEST,
                            singleStep=ZOOM_STEP, pageStep=ZOOM_STEP, value=DEFAULT_THUMB,
                            objectName="thumbnail-size")
        self.zoom.setFixedWidth(110)
        self.zoom.setToolTip("Thumbnail size (also Ctrl + mouse wheel, Ctrl+plus, Ctrl+minus)")
        self.zoom.valueChanged.connect(self.grid.set_thumb_size)
        self.grid.zoomed.connect(self.zoom.setValue)
        self.grid.near_end.connect(self.fetch_more)
        self.statusBar().addPermanentWidget(self.zoom)
        self.menu_actions = build_menus(self)

    def _action(self, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda: slot())
        self.addAction(action)
        return action

    # -- the library --------------------------------------------------------------------------
    def open_backend(self, options: SimpleNamespace) -> bool:
        """Open the library ``options`` describe; the previous one closes in the background."""
        try:
            lib = open_library(options)
        except Exception as exc:  # noqa: BLE001 - an unreadable data folder, a newer catalog
            QMessageBox.critical(self, "Cannot open the library", str(exc))
            return False
        if self.backend is not None:
            self.backend.shutdown()
        self.options, self.states, self.jobs = options, {}, 0
        self.progress.finish()
        backend = self.backend = Backend(lib, self)
        backend.read_text = backend.read_text and getattr(options, "read_text", True)
        backend.index_started.connect(self._index_started)
        backend.index_progress.connect(lambda done, total, _: self.progress.update_count(done, total))
        backend.library_changed.connect(self._library_changed)
        backend.index_finished.connect(self._index_finished)
        backend.index_failed.connect(self._index_failed)
        backend.answered.connect(self._answered)
        backend.search_failed.connect(self._search_failed)
        backend.model_ready.connect(lambda name: self.say(f"Model ready: {name}"))
        backend.live.started.connect(self._live_started)
        backend.live.changed.connect(self._live_changed)
        backend.text_progress.connect(self._text_progress)
        backend.text_finished.connect(self._text_finished)
        if getattr(self, "model", None) is None:
            self.model = ResultsModel(backend.thumbs, self)
            self.grid.setModel(self.model)
            self.grid.selectionModel().currentChanged.connect(self._current_changed)
        else:
            self.model.set_loader(backend.thumbs)
            self.model.set_hits([])
            self.pending = 0  # nothing asked of this library yet
        self.status_asked += 1
        asked = self.status_asked
        backend.status(lambda status: self._first_status(status, asked))
        self.check_model()  # downloads it first if it must
        return True

    def _first_status(self, status: dict, asked: int) -> None:
        self._status(status, asked)
        self.refresh_results()
        if self.backend is None:
            return
        if status["photos"] and self.model_state == "ready":
            self.say("Loading the model… (a search typed now runs as soon as it is ready)")
            self.backend.warm_up()  # load the model now, so the first search is quick
        if status["text_in_photos"]["to_read"]:
            self.backend.read_texts()  # a pass cut short last time resumes

    def refresh_status(self) -> None:
        if self.backend is not None:
            self.status_asked += 1
            asked = self.status_asked
            self.backend.status(lambda status: self._status(status, asked))

    def _status(self, status: dict, asked: int) -> None:
        """Show a library summary, unless a newer one is already shown: two pool threads
        read the catalog, and an older snapshot must not overwrite a newer one."""
        if asked < self.status_shown:
            return
        self.status_shown = asked
        self.photo_count, self.roots = status["photos"], status["roots"]
        self._show_folders()
        self.filter_bar.set_roots([root["path"] for root in self.roots], status.get("folders", []))
        self.filter_bar.set_tags(status["tags"])
        model = model_label(self.backend.lib.model_spec) if self.backend else status["model"]
        text, notices = summary_text(status, model)
        self.summary.setText(text)
        self.summary.setToolTip(notices)
        self._update_empty_text()

    # -- searching ----------------------------------------------------------------------------
    def _query(self) -> Query:
        """What the controls ask for now; typed words win over "find similar"."""
        value = self.min_score.value()
        text = compose(self.search.text(), self.similar_to, self.chips.terms) \
            if self.chips.terms else self.search.text()
        query = Query(text=text, image=None if text.strip() else self.similar_to,
                      filters=self.filter_bar.filters(self.folder),
                      min_score=value / 100 if value else None, order=self.sort_order)
        return replace(query, k=BROWSE_PAGE if query.browsing else
                       SORTED_MATCHES if query.sorted_matches else SEARCH_PAGE)

    def run_search(self) -> None:
        self.debounce.stop()
        if self.backend is None:
            return  # closing
        if not self._query().browsing and self.waits_for_model():
            self.search_waiting = True  # runs when the model is here
            self.header.setText("Your search runs as soon as the search model is here.")
            return
        self.asked = self._query()
        self.extending = False
        self.pending = self.backend.search(self.asked)

    def refresh_results(self) -> None:
        """The library changed under the results shown (a folder indexed, files changed on
        disk, text read, the first summary): the same question is asked again as far as the
        person has scrolled, so results that did not change stay where they are and new ones
        are added below. (Starting over from the first page reset a listing being scrolled
        through at every catch-up scan: bench_browse, 20,000 photos.) The cost grows with
        the rows loaded: all of them are asked for again (at 20,000 photos a listing grown
        page by page answered each 1,000-row page in 0.03-0.15 s)."""
        if self.backend is None:
            return
        if not self.pending or replace(self._query(), k=self.asked.k) != self.asked:
            self.run_search()  # nothing asked yet, or the controls ask something else now
            return
        self.debounce.stop()
        self.extending = False
        self.pending = self.backend.search(self.asked)

    def set_sort_order(self, order: str | None) -> None:
        """View › Sort by: the results shown again in ``order``, and every search after."""
        self._show_sort_order(order)
        self.run_search()

    def _show_sort_order(self, order: str | None) -> None:
        self.sort_order = order if order in SORT_ORDERS else None
        self.menu_actions[sort_key(self.sort_order)].setChecked(True)

    def fetch_more(self) -> None:
        """The next page of the results shown (scrolled near the end of a full page)."""
        if self.backend is None or self.extending or not self.has_more:
            return
        page = BROWSE_PAGE if self.asked.browsing else SEARCH_PAGE
        self.asked = replace(self.asked, k=self.asked.k + page)
        self.extending = True
        self.pending = self.backend.search(self.asked)

    def _text_edited(self, _text: str) -> None:
        self.similar_to = None  # typing leaves "find similar"
        self.debounce.start()

    def _min_score_changed(self, value: int) -> None:
        self.min_score_label.setText(f"{value / 100:.2f}" if value else "any ")
        if hasattr(self, "filter_bar"):
            self.filter_bar.allow_clear(bool(value))
        if self.backend is not None and not self._query().browsing:
            self.debounce.start()

    def _folder_selected(self, folder: str | None) -> None:
        """From the sidebar or the filter bar; both show the choice."""
        self.folder = folder
        self.sidebar.select(folder)
        self.filter_bar.set_folder(folder)
        self.run_search()

    def find_similar(self, hit: Hit) -> None:
        self.similar_to = hit.photo.path
        self.search.clear()
        self.chips.clear()
        self.run_search()

    def view_photo(self, hit: Hit) -> None:
        """The built-in viewer on ``hit``, Left/Right going through the results shown."""
        row = self.model.row_of(hit.photo.id)
        hits, index = (self.model.hits, row) if row is not None else ([hit], 0)
        if self.viewer is not None:
            self.viewer.close()
        self.viewer = PhotoViewer(hits, index, lambda photo, size, done, failed:
                                  self.backend and self.backend.preview(photo, done, failed,
                                                                        size), self)
        self.viewer.finished.connect(self._viewer_closed)
        self.viewer.show()

    def _viewer_closed(self) -> None:
        """Back in the grid on the photo last looked at."""
        if self.viewer is not None:
            row = self.model.row_of(self.viewer.hit.photo.id)
            if row is not None:
                self.grid.setCurrentIndex(self.model.index(row))
                self.grid.scrollTo(self.model.index(row))

    def add_term(self, hit: Hit, sign: str) -> None:
        """More / Less like this: the photo joins the query as a chip under the search box."""
        if sign == LESS and not anchored(self.search.text(), self.similar_to, self.chips.terms):
            self.say("Type what you are looking for first; then push photos like this away.")
            return
        self.chips.add(PhotoTerm(sign, hit.photo.path))
        self.run_search()

    def clear_all(self) -> None:
        """Back to the whole library: no words, no example photo, no filters, any score."""
        self.search.clear()
        self.similar_to = None
        self.chips.clear()
        self.filter_bar.clear()
        self.min_score.setValue(0)
        self.run_search()

    def clear_similar(self) -> None:
        self.similar_to = None
        self.run_search()

    def _answered(self, serial: int, hits: list) -> None:
        if serial != self.pending:
            return  # an older search finished after a newer one was asked for
        self.has_more = len(hits) > self.asked.k  # one more than a page was asked for
        self.tag_photos = getattr(hits, "tag_photos", 0)  # a searched query's Results say
        hits = hits[:self.asked.k]
        if self.extending:  # the next page: added below, nothing else moves
            self.extending = False
            self.model.add_hits(hits)
            self._update_header(self.model.hits)
            return
        replaced = self.model.set_hits(hits, self.asked.order)
        self._update_header(hits)
        self._update_empty_text()
        if not replaced:
            return
        shown = self.detail.hit and self.model.row_of(self.detail.hit.photo.id)
        if shown is not None:  # keep the photo in the detail pane selected, with its new score
            self.grid.setCurrentIndex(self.model.index(shown))
        elif self.detail.hit is not None:  # not among the new results: no stale details
            self.detail.show_hit(None)
            self.photo_actions.set_enabled(False)
        self.grid.scrollToTop()  # new results start at the best match

    def _search_failed(self, serial: int, exc) -> None:
        if isinstance(exc, ModelUnavailable) or serial == 0:
            self._problem(exc)
        elif serial == self.pending:
            self.model.set_hits([])
            self.header.setText(html.escape(str(exc)))

    def _update_header(self, hits: list) -> None:
        self.header.setText(results_header(self.asked, len(hits), self.has_more,
                                           self.tag_photos))

    def _update_empty_text(self) -> None:
        if not self.photo_count and self.queued_paths:
            self.grid.set_empty_text(WAITING_FOR_MODEL)
        elif not self.photo_count:
            self.grid.set_empty_text(INDEXING_EMPTY if self.jobs else EMPTY_LIBRARY)
        elif self._query().browsing:
            self.grid.set_empty_text(NO_FILTER_MATCH if self.filter_bar.filters().active()
                                     else "No photos in this folder yet")
        else:
            self.grid.set_empty_text(NO_MATCH)

    # -- the selected photo ---------------------------------------------------------------------
    def _current_changed(self, index, _previous) -> None:
        hit = index.data(HIT_ROLE) if index.isValid() else None
        if hit is None or hit is self.detail.hit:
            return
        self.detail.show_hit(hit)
        self.photo_actions.set_enabled(True)
        self.backend.describe(hit.photo, lambda info: self.detail.set_info(hit, info),
                              lambda exc: self.detail.set_info(hit, None))
        self.backend.preview(hit.photo, lambda image: self.detail.set_picture(hit, image),
                             lambda exc: self.detail.set_picture(hit, None))

    def _grid_menu(self, pos) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        if not self.grid.selectionModel().isSelected(index):  # else: act on the selection
            self.grid.setCurrentIndex(index)
        menu = QMenu(self)
        menu.addActions(self.photo_actions.all)
        menu.addSeparator()
        menu.addAction(self.edit_action)
        menu.exec(self.grid.viewport().mapToGlobal(pos))

    def say(self, text: str) -> None:
        """A passing status-bar message (the library summary returns after it)."""
        self.statusBar().showMessage(text, 10_000)

    # -- remembering --------------------------------------------------------------------------
    def restore_state(self) -> None:
        geometry = self.settings.get("window/geometry")
        if isinstance(geometry, QByteArray) and not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        elif geometry is None:
            self.resize(1280, 800)
        splitter = self.settings.get("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        self.min_score.setValue(self.settings.get("search/min_score", 0, int))
        self.zoom.setValue(self.settings.get("view/thumbnail_size", DEFAULT_THUMB, int))
        self._show_sort_order(self.settings.get("view/sort_by", None, str))
        last = self.settings.get("search/last_query", "", str)
        if last:
            self.search.setText(last)
            self.run_search()

    def save_state(self) -> None:
        self.settings.set("window/geometry", self.saveGeometry())
        self.settings.set("window/splitter", self.splitter.saveState())
        self.settings.store.setValue("search/last_query", self.search.text())
        self.settings.store.setValue("search/min_score", self.min_score.value())
        self.settings.store.setValue("view/thumbnail_size", self.grid.thumb_size)
        self.settings.store.setValue("view/sort_by", self.sort_order or "best")
        self.settings.store.sync()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.save_state()
        self.live_timer.stop()
        if self.adapt_dialog is not None:
            self.adapt_dialog.close()  # cancels a run and waits for it
        if self.backend is not None:
            self.backend.shutdown(wait=True)
            self.backend = None
        super().closeEvent(event)


