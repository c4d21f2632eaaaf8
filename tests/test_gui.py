"""The desktop app with real widgets, real files and the tiny model: drop, index, search,
find similar, cancel, a UI thread that never stalls, adapt, empty states and settings."""

from __future__ import annotations

import shutil
import sys
import time
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QTimer, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from photofind.gui import window as window_module  # noqa: E402
from photofind.gui.adapt_dialog import AdaptDialog, AdaptHooks  # noqa: E402
from photofind.gui.settings import Settings  # noqa: E402
from photofind.gui.window import EMPTY_LIBRARY, NO_MATCH, MainWindow  # noqa: E402

from conftest import FLICKR, copy_photos  # noqa: E402

pytestmark = pytest.mark.skipif(not (FLICKR / "images").is_dir(), reason="needs shared photos")
WAIT_MS = 60_000


@pytest.fixture(autouse=True)
def private_settings(tmp_path):
    """Any QSettings() a test creates lands in tmp, never in the real user's settings."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "qsettings"))
    yield
    QSettings.setDefaultFormat(QSettings.Format.NativeFormat)


@pytest.fixture(scope="module")
def photos200(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("library") / "photos200"
    copy_photos(folder, 200)
    return folder


@pytest.fixture
def make_window(qtbot, tmp_path, tiny_model):
    def make(data: str = "data", settings_file: str = "settings.ini", **changes) -> MainWindow:
        options = SimpleNamespace(data_dir=str(tmp_path / data), model=None,
                                  pretrained=tiny_model.pretrained,
                                  model_config=tiny_model.config, device="cpu", workers=1)
        vars(options).update(changes)
        settings = Settings(QSettings(str(tmp_path / settings_file), QSettings.Format.IniFormat))
        window = MainWindow(settings, overrides=options)
        qtbot.addWidget(window)
        window.show()
        return window
    return make


def drop(window: MainWindow, *paths: Path) -> None:
    """Send a file-manager drop (file URLs) through the real drag-enter and drop events,
    onto the results grid as a person would; Qt passes it up to the window."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    target = window.grid.viewport()
    at = QPointF(target.rect().center())
    enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(target, QDropEvent(at, Qt.DropAction.CopyAction, mime,
                                              Qt.MouseButton.LeftButton,
                                              Qt.KeyboardModifier.NoModifier))


def indexed(qtbot, window: MainWindow, folder: Path, count: int) -> None:
    drop(window, folder)
    qtbot.waitUntil(lambda: window.indexing.jobs == 0 and window.model.rowCount() == count,
                    timeout=WAIT_MS)


def scores(window: MainWindow) -> list[float]:
    return [hit.score for hit in window.model.hits]


def test_empty_state_on_a_new_library(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.grid.empty_text == EMPTY_LIBRARY)
    assert window.model.rowCount() == 0
    assert "Drop a folder here to start" in window.grid.empty_text
    window.activateWindow()
    qtbot.waitActive(window)
    window.grid.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search.hasFocus()


def test_dropped_folder_is_indexed_and_fills_the_grid(qtbot, make_window, tmp_path):
    window = make_window()
    folder = tmp_path / "holiday"
    copy_photos(folder, 20)
    indexed(qtbot, window, folder, 20)
    assert window.photo_count == 20
    assert [r["photos"] for r in window.roots if r["path"] == str(folder)] == [20]
    thumbs = window.backend.thumbs  # pixmap() starts a background load when not cached
    qtbot.waitUntil(lambda: all(thumbs.pixmap(h.photo) is not None for h in window.model.hits),
                    timeout=WAIT_MS)
    assert not thumbs.failed
    assert len(list((window.backend.lib.data_dir / "thumbs").rglob("*.jpg"))) == 20


def test_removing_a_folder_empties_the_library(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window()
    folder = tmp_path / "old"
    copy_photos(folder, 20)
    indexed(qtbot, window, folder, 20)
    monkeypatch.setattr(window_module.QMessageBox, "question",
                        lambda *args: window_module.QMessageBox.StandardButton.Yes)
    window.sidebar.remove_requested.emit(str(folder))  # the row's ✕ button / context menu
    qtbot.waitUntil(lambda: window.photo_count == 0 and window.model.rowCount() == 0,
                    timeout=WAIT_MS)
    assert window.sidebar.count() == 1  # only "All photos" is left
    assert window.grid.empty_text == EMPTY_LIBRARY
    assert len(list(folder.glob("*.jpg"))) == 20  # the photos themselves are untouched


def test_typing_a_query_shows_ranked_results(qtbot, make_window, tmp_path):
    window = make_window()
    copy_photos(tmp_path / "photos" / "beach", 12)
    copy_photos(tmp_path / "photos" / "city", 8, start=12)
    indexed(qtbot, window, tmp_path / "photos", 20)
    qtbot.keyClicks(window.search, "a dog running on grass")
    assert window.debounce.isActive()  # search-as-you-type waits for a pause in typing…
    asked = window.pending
    qtbot.keyClick(window.search, Qt.Key.Key_Return)  # …and Enter runs it at once
    assert not window.debounce.isActive() and window.pending == asked + 1
    qtbot.waitUntil(lambda: window.model.rowCount() and None not in scores(window),
                    timeout=WAIT_MS)
    assert scores(window) == sorted(scores(window), reverse=True)
    assert "a dog running on grass" in window.header.text()
    city = str(tmp_path / "photos" / "city")
    window.sidebar.folder_selected.emit(city)  # limit the search to one folder
    qtbot.waitUntil(lambda: window.model.rowCount() == 8, timeout=WAIT_MS)
    assert all(hit.photo.path.startswith(city) for hit in window.model.hits)
    window.min_score.setValue(50)  # above anything the random tiny model scores
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=WAIT_MS)
    assert window.grid.empty_text == NO_MATCH


def test_find_similar_puts_that_photo_first(qtbot, make_window, tmp_path):
    window = make_window()
    copy_photos(tmp_path / "photos", 20)
    indexed(qtbot, window, tmp_path / "photos", 20)
    window.grid.setCurrentIndex(window.model.index(7))
    chosen = window.model.hits[7].photo.path
    assert window.detail.hit.photo.path == chosen
    window.photo_actions.similar.trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() and None not in scores(window),
                    timeout=WAIT_MS)
    assert window.model.hits[0].photo.path == chosen
    assert window.model.hits[0].score == pytest.approx(1.0, abs=1e-2)


def test_cancel_stops_indexing_and_the_ui_stays_usable(qtbot, make_window, photos200):
    window = make_window()
    drop(window, photos200)
    qtbot.waitUntil(lambda: window.progress.bar.value() >= 5, timeout=WAIT_MS)
    qtbot.mouseClick(window.progress.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.indexing.jobs == 0, timeout=WAIT_MS)
    assert window.indexing.last_report.cancelled
    assert 0 < window.backend.lib.catalog.counts()["photos"] < 200
    assert window.progress.isHidden()
    qtbot.keyClicks(window.search, "children playing")
    qtbot.waitUntil(lambda: window.model.rowCount() and None not in scores(window),
                    timeout=WAIT_MS)


def test_ui_thread_never_stalls_while_indexing(qtbot, make_window, photos200):
    window = make_window()
    qtbot.waitExposed(window)
    qtbot.wait(300)  # the first paint is start-up, not indexing
    ticks: list[float] = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    drop(window, photos200)
    qtbot.waitUntil(lambda: window.indexing.jobs == 0 and window.photo_count == 200, timeout=WAIT_MS)
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    print(f"max UI gap while indexing 200 photos: {max(gaps) * 1000:.1f} ms "
          f"over {len(gaps)} ticks")
    assert max(gaps) < 0.100


def test_adapt_button_follows_the_core(qtbot, make_window):
    window = make_window()
    if AdaptHooks.detect() is None:
        assert not window.adapt_action.isEnabled()
        assert "adaptation" in window.adapt_action.toolTip()
    else:
        assert window.adapt_action.isEnabled()


def _fake_adapt(steps: int, delay: float) -> types.ModuleType:
    """Stands in for ``photofind.adapt`` with the hooks the dialog documents."""
    module = types.ModuleType("photofind.adapt")
    module.usable_photos = lambda lib: {"captioned": 12, "tagged": 3}
    module.reset = lambda lib: None

    def adapt(lib, progress, cancel):
        for step in range(1, steps + 1):
            if cancel.cancelled:
                return {"before": 0.4, "after": 0.4, "kept": False}
            time.sleep(delay)
            progress(step, steps, 1.0 / step)
        return {"before": {"recall@10": 0.41}, "after": {"recall@10": 0.52}, "kept": True}
    module.adapt = adapt
    return module


@pytest.mark.parametrize("cancel", [False, True])
def test_adapt_dialog_runs_and_cancels(qtbot, make_window, monkeypatch, cancel):
    monkeypatch.setitem(sys.modules, "photofind.adapt", _fake_adapt(400 if cancel else 5, 0.01))
    window = make_window()
    assert window.adapt_action.isEnabled()
    window.adapt_action.trigger()
    dialog: AdaptDialog = window.adapt_dialog
    qtbot.waitUntil(lambda: "12 captioned" in dialog.intro.text())
    qtbot.mouseClick(dialog.start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "loss" in dialog.detail.text())
    if cancel:
        qtbot.mouseClick(dialog.cancel, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.state == "cancelled", timeout=WAIT_MS)
        assert "unchanged" in dialog.result.text()
    else:
        qtbot.waitUntil(lambda: dialog.state == "done", timeout=WAIT_MS)
        assert "0.410 → 0.520" in dialog.result.text() and "Kept" in dialog.result.text()
    dialog.close()


def test_default_settings_stay_out_of_the_users_config(tmp_path):
    assert Settings().store.fileName().startswith(str(tmp_path / "qsettings"))


def test_settings_persist(qtbot, make_window):
    window = make_window()
    window.search.setText("red kayak")
    window.min_score.setValue(20)
    window.resize(720, 520)  # fits the offscreen screen
    window.close()
    again = make_window()
    assert again.search.text() == "red kayak"
    assert again.min_score.value() == 20
    assert (again.width(), again.height()) == (720, 520)
    options = SimpleNamespace(model="ViT-B-16", pretrained="/tmp/w.safetensors",
                              model_config=None, device="cpu", data_dir="/tmp/pf-data")
    again.settings.save_library_options(options)
    stored = Settings(QSettings(again.settings.store.fileName(), QSettings.Format.IniFormat))
    assert vars(stored.library_options()) == {**vars(options), "workers": None}


def test_missing_model_gets_a_friendly_way_out(qtbot, make_window, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(window_module, "ask_for_weights",
                        lambda parent, message: asked.append(message))
    window = make_window(pretrained=str(tmp_path / "missing.safetensors"))
    folder = tmp_path / "photos"
    copy_photos(folder, 2)
    drop(window, folder)
    qtbot.waitUntil(lambda: bool(asked), timeout=WAIT_MS)
    assert "not found" in asked[0] and "Traceback" not in asked[0]
    assert window.indexing.jobs == 0 and window.progress.isHidden()
    shutil.rmtree(folder)


def test_pyside_reference_bug_cannot_abort_the_app(qapp):
    """PySide6 6.12 on CPython 3.11 drops a reference to None per void call and to True per
    emit; photofind.gui makes those singletons effectively immortal when that happens."""
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel

    from photofind.gui import qtfix

    class Emitter(QObject):
        ping = Signal(int)

    label, emitter = QLabel(), Emitter()
    for i in range(20_000):  # well past None's and True's own reference counts
        label.setText("x")
        emitter.ping.emit(i)
    if qtfix.loses_references():
        assert qtfix.install() and sys.getrefcount(None) > qtfix.ENOUGH // 2


def test_detail_texts_take_whatever_shape_the_core_gives():
    """``photo_details`` is landing in the core; the detail pane reads texts as a list of
    objects/dicts/tuples, or as captions + tags lists."""
    from photofind.gui.queries import describe
    from photofind.library.catalog import PhotoRow

    row = PhotoRow(1, None, "/p/a.jpg", b"/p/a.jpg", 2_000_000, 0.0, "h", 4000, 3000,
                   "2023-07-01T10:00:00", "Canon", "EOS R6", None, None, None, 0.0)
    shapes = [
        {"texts": [{"kind": "caption", "text": "Grandma's cake", "source": "xmp:dc:description"},
                   ("tag", "birthday", "iptc:Keywords")]},
        types.SimpleNamespace(captions=["Grandma's cake"], tags=["birthday"]),
    ]
    for details in shapes:
        lib = types.SimpleNamespace(photo_details=lambda photo_id, d=details: d)
        info = describe(lib, row)
        assert [t[:2] for t in info.texts] == [("caption", "Grandma's cake"), ("tag", "birthday")]
        assert ("Camera", "Canon EOS R6") in info.facts
        assert ("Date", "2023-07-01 10:00:00") in info.facts
    assert describe(types.SimpleNamespace(), row).texts == []


def test_run_app_opens_the_window_and_quits_cleanly(qapp, tmp_path, tiny_model):
    """The entry point ``photofind`` (no command) calls: splash, window, settings, exit 0."""
    from photofind.gui.app import run_app

    args = SimpleNamespace(data_dir=str(tmp_path / "data"), model=None, device="cpu",
                           pretrained=tiny_model.pretrained, model_config=tiny_model.config,
                           workers=1)
    seen = []

    def look_and_close():
        seen.extend(w for w in QApplication.topLevelWidgets()
                    if isinstance(w, MainWindow) and w.isVisible())
        QApplication.closeAllWindows()
    QTimer.singleShot(1500, look_and_close)
    assert run_app(args) == 0
    assert seen and not qapp.windowIcon().isNull()
    assert Path(Settings().store.fileName()).exists()  # window state was saved (in tmp)
