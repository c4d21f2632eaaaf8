"""The desktop app with real widgets, real files and the tiny model: drop, index, search,
find similar, cancel, a UI thread that never stalls, filters, the detail pane, adapt, the live
library, empty states and settings."""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("pytestqt")

from PIL import Image, ImageOps  # noqa: E402
from PySide6.QtCore import QDate, QLocale, QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFormLayout, QLabel  # noqa: E402

from photofind.adapt.store import AdaptConfig  # noqa: E402
from photofind.gui import dialogs, live  # noqa: E402
from photofind.gui import window as window_module  # noqa: E402
from photofind.gui.settings import Settings  # noqa: E402
from photofind.gui.window import EMPTY_LIBRARY, NO_MATCH, MainWindow  # noqa: E402
from photofind.library.metadata import TextItem  # noqa: E402

from conftest import copy_photos, flickr_captions, make_photos, write_sign  # noqa: E402

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
    make_photos(folder, 200)
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
    at = target.rect().center()  # Qt: QPoint for drag-enter, QPointF for drop
    enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(target, QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime,
                                              Qt.MouseButton.LeftButton,
                                              Qt.KeyboardModifier.NoModifier))


def indexed(qtbot, window: MainWindow, folder: Path, count: int) -> None:
    drop(window, folder)
    qtbot.waitUntil(lambda: window.jobs == 0 and window.model.rowCount() == count
                    and window.photo_count == count, timeout=WAIT_MS)


def scores(window: MainWindow) -> list[float]:
    return [hit.score for hit in window.model.hits]


def test_empty_state_on_a_new_library(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.grid.empty_text == EMPTY_LIBRARY)
    assert window.model.rowCount() == 0
    assert "Drop a folder here to start" in window.grid.empty_text


def test_dropped_folder_is_indexed_and_fills_the_grid(qtbot, make_window, tmp_path):
    window = make_window()
    folder = tmp_path / "holiday"
    make_photos(folder, 20)
    indexed(qtbot, window, folder, 20)
    assert window.photo_count == 20
    assert [r["photos"] for r in window.roots if r["path"] == str(folder)] == [20]
    thumbs = window.backend.thumbs  # pixmap() starts a background load when not cached
    qtbot.waitUntil(lambda: all(thumbs.pixmap(h.photo) is not None for h in window.model.hits),
                    timeout=WAIT_MS)
    assert not thumbs.failed
    assert len(list((window.backend.lib.data_dir / "thumbs").rglob("*.jpg"))) == 20


def test_typing_a_query_shows_ranked_results(qtbot, make_window, tmp_path):
    window = make_window()
    make_photos(tmp_path / "photos", 20)
    indexed(qtbot, window, tmp_path / "photos", 20)
    qtbot.keyClicks(window.search, "a dog running on grass")
    qtbot.waitUntil(lambda: window.model.rowCount() and None not in scores(window),
                    timeout=WAIT_MS)
    assert scores(window) == sorted(scores(window), reverse=True)
    assert "a dog running on grass" in window.header.text()
    window.min_score.setValue(50)  # above anything the random tiny model scores
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=WAIT_MS)
    assert window.grid.empty_text == NO_MATCH


def test_find_similar_puts_that_photo_first(qtbot, make_window, tmp_path):
    window = make_window()
    make_photos(tmp_path / "photos", 20)
    indexed(qtbot, window, tmp_path / "photos", 20)
    window.grid.setCurrentIndex(window.model.index(7))
    chosen = window.model.hits[7].photo.path
    assert window.detail.hit.photo.path == chosen
    window.photo_actions.similar.trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() and None not in scores(window),
                    timeout=WAIT_MS)
    assert window.model.hits[0].photo.path == chosen
    assert window.model.hits[0].score == pytest.approx(1.0, abs=1e-2)


def test_more_and_less_like_this_add_the_photo_as_a_removable_chip(qtbot, make_window, tmp_path):
    window = make_window()
    make_photos(tmp_path / "photos", 12)
    indexed(qtbot, window, tmp_path / "photos", 12)
    assert window.chips.isHidden()
    window.photo_actions.less.trigger()  # nothing selected: nothing happens
    window.grid.setCurrentIndex(window.model.index(3))
    window.photo_actions.less.trigger()  # nothing asked for yet: a hint, the query unchanged
    assert window.search.text() == "" and window.chips.terms == []
    liked = window.model.hits[3].photo.path
    window.photo_actions.more.trigger()
    assert window.search.text() == ""  # the box keeps the person's words; the photo is a chip
    assert [b.text() for b in window.chips.buttons()] == [f"＋ {Path(liked).name}  ✕"]
    assert window.chips.isVisible() and liked in window.chips.buttons()[0].toolTip()
    qtbot.waitUntil(lambda: window.model.rowCount() and window.model.hits[0].photo.path == liked,
                    timeout=WAIT_MS)
    disliked = window.model.hits[1].photo.path
    window.grid.setCurrentIndex(window.model.index(1))
    window.photo_actions.less.trigger()
    assert window.asked.text == f"{liked} - {disliked}"
    qtbot.waitUntil(lambda: window.model.rowCount() and window.model.hits[1].photo.path !=
                    disliked and None not in scores(window), timeout=WAIT_MS)
    assert window.model.hits[0].photo.path == liked  # pushed down, the liked one stays first
    assert [h.photo.path for h in window.model.hits].index(disliked) > 1
    less_chip = window.chips.buttons()[1]
    assert less_chip.text().startswith("− ")
    qtbot.mouseClick(less_chip, Qt.MouseButton.LeftButton)  # take it out again
    assert window.asked.text == liked and len(window.chips.buttons()) == 1
    qtbot.waitUntil(lambda: [h.photo.path for h in window.model.hits].index(disliked) == 1,
                    timeout=WAIT_MS)
    window.clear_all()
    assert window.chips.terms == [] and window.chips.isHidden()


def test_cancel_stops_indexing_and_the_ui_stays_usable(qtbot, make_window, photos200):
    window = make_window()
    drop(window, photos200)
    qtbot.waitUntil(lambda: window.progress.bar.value() >= 5, timeout=WAIT_MS)
    qtbot.mouseClick(window.progress.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.jobs == 0, timeout=WAIT_MS)
    assert window.last_report.cancelled
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
    qtbot.waitUntil(lambda: window.jobs == 0 and window.photo_count == 200, timeout=WAIT_MS)
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    print(f"max UI gap while indexing 200 photos: {max(gaps) * 1000:.1f} ms "
          f"over {len(gaps)} ticks")
    assert max(gaps) < 0.100


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
                              model_config=None, device="cpu", data_dir="/tmp/pf-data",
                              read_text=False, write_sidecars=True)
    again.settings.save_library_options(options)
    stored = Settings(QSettings(again.settings.store.fileName(), QSettings.Format.IniFormat))
    assert vars(stored.library_options()) == {**vars(options), "workers": None}


def test_missing_model_gets_a_friendly_way_out(qtbot, make_window, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(dialogs, "ask_for_weights",
                        lambda parent, message: asked.append(message))
    window = make_window(pretrained=str(tmp_path / "missing.safetensors"))
    folder = tmp_path / "photos"
    make_photos(folder, 2)
    drop(window, folder)
    qtbot.waitUntil(lambda: bool(asked), timeout=WAIT_MS)
    assert "not found" in asked[0] and "Traceback" not in asked[0]
    assert window.jobs == 0 and window.progress.isHidden()
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


# -- filters, details, adaptation and the live library -------------------------------------------
EXIF_IFD, DATE_TAKEN, MAKE, MODEL = 0x8769, 0x9003, 0x010F, 0x0110
XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
       'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
       '<rdf:li xml:lang="x-default">{caption}</rdf:li></rdf:Alt></dc:description>'
       '<dc:subject><rdf:Bag><rdf:li>{tag}</rdf:li></rdf:Bag></dc:subject>'
       '</rdf:Description></rdf:RDF></x:xmpmeta>')


def write_exif(photo: Path, taken: str, make: str = "Canon", model: str = "Canon EOS 5D"):
    with Image.open(photo) as image:
        image.load()
        exif = Image.Exif()
        exif[MAKE], exif[MODEL] = make, model
        exif.get_ifd(EXIF_IFD)[DATE_TAKEN] = taken
        image.save(photo, exif=exif, quality=90)


@pytest.fixture(scope="module")
def described(tmp_path_factory) -> tuple[Path, list[Path]]:
    """8 photos: the first 3 with EXIF dates (July 2019) and a camera, the first with an XMP
    sidecar caption and tag."""
    folder = tmp_path_factory.mktemp("described") / "Summer"
    photos = make_photos(folder, 8)
    for day, photo in enumerate(photos[:3], 1):
        write_exif(photo, f"2019:07:0{day} 12:00:00")
    photos[0].with_suffix(".xmp").write_text(
        XMP.format(caption="Red kayak on the lake at dawn", tag="Lake Tahoe"), encoding="utf-8")
    return folder, photos


def add_texts(window: MainWindow, texts: dict[Path, list[tuple[str, str]]]) -> None:
    """Captions/tags as an import would add them, then let the window notice."""
    lib = window.backend.lib
    with lib.catalog.transaction() as db:
        for photo, items in texts.items():
            row = lib.catalog.photo_by_path(photo)
            lib.catalog.add_texts(db, row.id, [TextItem(kind, text, "test", str(photo))
                                               for kind, text in items])
    window.refresh_status()


def test_a_tag_query_says_it_also_found_look_alikes(qtbot, make_window, tmp_path):
    window = make_window()
    photos = make_photos(tmp_path / "photos", 10)
    indexed(qtbot, window, tmp_path / "photos", 10)
    add_texts(window, {photos[0]: [("tag", "Biscuit")], photos[1]: [("tag", "Biscuit")],
                       photos[2]: [("tag", "Rex")]})
    qtbot.keyClicks(window.search, "Biscuit")
    qtbot.waitUntil(lambda: "“Biscuit”" in window.header.text(), timeout=WAIT_MS)
    assert "with photos that look like the 2 you tagged" in window.header.text()
    window.search.clear()
    qtbot.keyClicks(window.search, "Rex")  # on one photo: no look to go by
    qtbot.waitUntil(lambda: "“Rex”" in window.header.text(), timeout=WAIT_MS)
    assert "you tagged" not in window.header.text()


def test_an_older_library_summary_never_overwrites_a_newer_one(qtbot, make_window, tmp_path,
                                                               monkeypatch):
    """Summaries are read on two pool threads, so replies can arrive out of order (this made
    the count lag the grid after indexing)."""
    window = make_window()
    make_photos(tmp_path / "photos", 3)
    indexed(qtbot, window, tmp_path / "photos", 3)
    replies = []
    monkeypatch.setattr(window.backend, "status", replies.append)
    window.refresh_status()
    window.refresh_status()
    newer = {"photos": 3, "roots": window.roots, "tags": [], "errors": 0, "model": "tiny"}
    replies[1](newer)
    replies[0](dict(newer, photos=0))  # the older snapshot, arriving last
    assert window.photo_count == 3
    assert window.summary.text().startswith("3 photos")


def shown(window: MainWindow) -> list[str]:
    return [Path(hit.photo.path).name for hit in window.model.hits]


def facts(window: MainWindow) -> dict[str, str]:
    form = window.detail.facts
    return {form.itemAt(i, QFormLayout.ItemRole.LabelRole).widget().text().rstrip(":"):
            form.itemAt(i, QFormLayout.ItemRole.FieldRole).widget().text().replace("\u200b", "")
            for i in range(form.rowCount())}


def test_filters_narrow_the_grid(qtbot, make_window, described):
    folder, photos = described
    window = make_window()
    indexed(qtbot, window, folder, 8)
    add_texts(window, {photos[0]: [("tag", "Emma"), ("caption", "Emma with a red kayak")],
                       photos[5]: [("person", "emma")]})
    bar = window.filter_bar
    qtbot.waitUntil(lambda: bar.tag.findText("Emma") >= 0)

    def expect(names: list[Path], ordered: bool = False) -> None:
        want = [p.name for p in names]
        qtbot.waitUntil(lambda: (shown(window) if ordered else sorted(shown(window))) ==
                        (want if ordered else sorted(want)), timeout=WAIT_MS)

    bar.tag.setEditText("emma")  # tags match whatever their case
    expect([photos[0], photos[5]])
    assert "tagged “emma”" in window.header.text() and None in scores(window)
    bar.date_from.setDate(QDate(2019, 7, 1))
    bar.date_to.setDate(QDate(2019, 7, 31))
    expect([photos[0]])
    bar.tag.setEditText("")
    expect([photos[2], photos[1], photos[0]], ordered=True)  # no query: newest first
    bar.camera.setText("canon")
    bar.caption.setCurrentIndex(bar.caption.findData(True))
    expect([photos[0]])
    bar.clear()
    bar.camera.setText("nikon")
    expect([])
    assert window.grid.empty_text == "No photos match these filters"
    bar.clear()
    expect(photos)
    bar.tag.setEditText("Emma")
    qtbot.keyClicks(window.search, "a red kayak")  # words and a filter together
    qtbot.waitUntil(lambda: window.model.rowCount() and None not in scores(window),
                    timeout=WAIT_MS)
    assert sorted(shown(window)) == sorted([photos[0].name, photos[5].name])
    assert window.model.hits[0].text_match  # its caption has these words
    bar.folder.setCurrentIndex(bar.folder.findData(str(folder)))
    qtbot.waitUntil(lambda: window.folder == str(folder))
    assert window.sidebar.currentItem().data(Qt.ItemDataRole.UserRole + 1) == str(folder)


def test_folder_filter_is_a_tree_of_subfolders(qtbot, make_window, tmp_path):
    """Photos in nested folders: the folder filter lists each subfolder under its parent,
    indented (folders with no photo of their own too, when one below has some), and
    choosing one narrows the grid to it and what is below it."""
    root = tmp_path / "pictures"
    make_photos(root, 2)
    make_photos(root / "2019" / "summer", 3, start=2)
    make_photos(root / "2020", 1, start=5)
    make_photos(root / "empty-parent" / "only-child", 1, start=6)
    window = make_window()
    indexed(qtbot, window, root, 7)
    bar = window.filter_bar
    qtbot.waitUntil(lambda: bar.folder.count() == 7, timeout=WAIT_MS)
    listed = [bar.folder.itemText(i) for i in range(bar.folder.count())]
    indent = "\u2003"
    assert listed == ["All folders", "pictures", f"{indent}2019", f"{indent * 2}summer",
                      f"{indent}2020", f"{indent}empty-parent", f"{indent * 2}only-child"]
    bar.folder.setCurrentIndex(bar.folder.findData(str(root / "2019")))
    qtbot.waitUntil(lambda: sorted(shown(window)) == [f"photo-{i:04d}.jpg" for i in (2, 3, 4)],
                    timeout=WAIT_MS)
    bar.folder.setCurrentIndex(bar.folder.findData(str(root / "empty-parent")))
    qtbot.waitUntil(lambda: shown(window) == ["photo-0006.jpg"], timeout=WAIT_MS)


def test_detail_pane_shows_texts_and_dates_with_their_source(qtbot, make_window, described):
    folder, photos = described
    window = make_window()
    indexed(qtbot, window, folder, 8)
    qtbot.keyClicks(window.search, "kayak on the lake")
    qtbot.waitUntil(lambda: None not in scores(window) and shown(window)[:1] == [photos[0].name],
                    timeout=WAIT_MS)
    window.grid.setCurrentIndex(window.model.index(0))
    qtbot.waitUntil(lambda: "Red kayak" in window.detail.texts.text(), timeout=WAIT_MS)
    texts = window.detail.texts.text()
    assert f"caption — xmp:dc:description ({photos[0].stem}.xmp)" in texts
    assert "Lake Tahoe" in texts and "tag — xmp:dc:subject" in texts
    known = facts(window)
    assert known["Date"] == "2019-07-01 12:00:00 (exif:DateTimeOriginal)"
    assert known["Camera"] == "Canon EOS 5D"
    assert known["Matched"].startswith("your words") and "GPS" not in known
    assert "words" in window.model.data(window.model.index(0), Qt.ItemDataRole.ToolTipRole)

    window.adapt_action.trigger()  # one caption is not enough to adapt: said kindly
    dialog = window.adapt_dialog
    qtbot.waitUntil(lambda: "at least 40 needed" in dialog.intro.text(), timeout=WAIT_MS)
    assert dialog.intro.text().startswith("1 captioned and 1 tagged photos")
    assert not dialog.start.isEnabled()
    dialog.run()  # as if started anyway: the library's NotEnoughData becomes a sentence
    qtbot.waitUntil(lambda: dialog.state == "failed", timeout=WAIT_MS)
    assert "adapting needs at least 40" in dialog.result.text()
    assert "failed" not in dialog.result.text()


def test_caption_and_tags_are_edited_for_a_selection(qtbot, make_window, tmp_path):
    """Select three photos, tag them and caption them in the dialog: the catalog, the tag
    filter, the detail pane and search have it at once; the photo folder is not touched
    (sidecars are off by default); a second edit removes the tag again."""
    window = make_window()
    folder = tmp_path / "photos"
    make_photos(folder, 6)
    indexed(qtbot, window, folder, 6)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    grid, model = window.grid, window.model
    grid.setCurrentIndex(model.index(0))
    for row in (1, 2):  # Ctrl+click, as a person adds to a selection
        rect = grid.visualRect(model.index(row))
        qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.ControlModifier, rect.center())
    chosen = [hit.photo.id for hit in grid.selected_hits()]
    assert len(chosen) == 3
    assert "Edit caption and tags…" in [a.text() for a in window.menuBar().actions()[1]
                                        .menu().actions()]

    qtbot.keyClick(grid, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.edit_dialog is not None and window.edit_dialog.isVisible(),
                    timeout=WAIT_MS)
    dialog = window.edit_dialog
    assert dialog.windowTitle() == "Caption and tags of 3 photos"
    qtbot.keyClicks(dialog.new_tag, "Biscuit, sofa")
    qtbot.keyClick(dialog.new_tag, Qt.Key.Key_Return)
    assert dialog.listed_tags() == ["Biscuit", "sofa"]
    assert dialog.isVisible() and not dialog.new_tag.text()  # Enter added, did not save
    qtbot.keyClicks(dialog.caption, "Biscuit asleep")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()
    lib = window.backend.lib
    qtbot.waitUntil(lambda: all(lib.editable_texts([i]).own_tags == {"Biscuit": 1, "sofa": 1}
                                for i in chosen), timeout=WAIT_MS)
    assert lib.editable_texts(chosen).caption == "Biscuit asleep"
    qtbot.waitUntil(lambda: "Biscuit" in window.filter_bar.tag_names(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "written by you in photofind" in window.detail.texts.text(),
                    timeout=WAIT_MS)
    qtbot.keyClicks(window.search, "Biscuit")
    qtbot.waitUntil(lambda: sorted(h.photo.id for h in window.model.hits if h.text_match)
                    == sorted(chosen), timeout=WAIT_MS)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before

    window.grid.setCurrentIndex(model.index(0))  # one photo: remove the tag there
    window.edit_action.trigger()
    qtbot.waitUntil(lambda: window.edit_dialog is not dialog and window.edit_dialog.isVisible(),
                    timeout=WAIT_MS)
    second = window.edit_dialog
    assert second.windowTitle() == "Caption and tags" and "Biscuit" in second.listed_tags()
    assert second.caption.toPlainText() == "Biscuit asleep"
    first = model.hits[0].photo.id
    row = second.listed_tags().index("Biscuit")
    second.tags.item(row).setSelected(True)
    qtbot.mouseClick(second.remove, Qt.MouseButton.LeftButton)
    second.accept()
    qtbot.waitUntil(lambda: lib.editable_texts([first]).own_tags == {"sofa": 1},
                    timeout=WAIT_MS)
    assert lib.editable_texts([first]).caption == "Biscuit asleep"  # untouched: kept


def test_first_run_download_shows_progress_and_keeps_the_folder(qtbot, make_window, tmp_path,
                                                                monkeypatch):
    """A fresh library with the default model not on this computer: the download dialog
    opens by itself; offline it says so; a folder dropped meanwhile waits, and so does a
    typed search; online again, Try again shows the bytes coming in, and the waiting folder
    goes to indexing (these test weights are random bytes, so loading them then fails, and
    the folder waits again)."""
    from fake_hub import FakeHub
    from huggingface_hub import constants

    from photofind.gui.model_gate import WAITING

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    weights = bytes(range(256)) * 90_000  # 23 MB: three progress steps
    hub = FakeHub({("laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "open_clip_pytorch_model.bin"):
                   weights}, delay_s=0.002)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    problems = []
    window = make_window(model="ViT-B-32", pretrained="laion2b_s34b_b79k", model_config=None)
    window.on_problem = problems.append
    qtbot.waitUntil(lambda: window.download_dialog is not None
                    and window.download_dialog.state == "failed", timeout=WAIT_MS)
    dialog = window.download_dialog
    assert dialog.isVisible() and "could not reach" in dialog.problem.text()
    assert dialog.retry.isVisible()

    folder = tmp_path / "photos"
    make_photos(folder, 3)
    window.add_paths([str(folder)])
    assert window.queued_paths == [str(folder)] and window.jobs == 0
    assert window.states[str(folder)] == WAITING
    qtbot.keyClicks(window.search, "a red kayak")
    qtbot.waitUntil(lambda: window.search_waiting, timeout=WAIT_MS)
    assert "as soon as the search model is here" in window.header.text()

    started, values = [], []
    window.backend.index_started.connect(started.append)
    dialog.bar.valueChanged.connect(values.append)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # back online
    qtbot.mouseClick(dialog.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.state == "done", timeout=WAIT_MS)
    assert any(0 < v < 1000 for v in values) and values[-1] == 1000
    assert not dialog.isVisible()
    cached = list((tmp_path / "hf-cache").rglob("open_clip_pytorch_model.bin"))
    assert [p.read_bytes() == weights for p in cached] == [True]
    qtbot.waitUntil(lambda: bool(started and problems), timeout=WAIT_MS)
    assert started[0] == [str(folder)] and "weights" in str(problems[0]).lower()
    assert window.queued_paths == [str(folder)]  # it waits for weights that load
    hub.close()


def not_clipped(dialog) -> bool:
    """Every visible wrapped label has the height its text needs at its width."""
    labels = [w for w in dialog.findChildren(QLabel) if w.isVisible() and w.wordWrap()]
    return all(w.height() >= w.heightForWidth(w.width()) for w in labels)


def test_adapt_time_left_is_what_the_budgets_leave():
    """The dialog says what the time budgets of the stages not done yet leave (never more
    than the clock's share of them); past the budgets (re-embedding) or without them,
    only the pace speaks, once a fifth is done."""
    from photofind.gui.adapt_dialog import time_left
    from photofind.services.adapting import DEFAULT_VARIANTS, RERANK_BUDGET_S, planned_seconds

    planned = planned_seconds()
    assert planned == sum(v.time_budget_s for v in DEFAULT_VARIANTS) + RERANK_BUDGET_S
    assert planned_seconds(rerank=False) == planned - RERANK_BUDGET_S
    assert planned_seconds((AdaptConfig(),)) is None  # a variant without a budget
    assert time_left(0.0, 10, planned) == time_left(0.0, 0, planned - 10) != ""
    assert time_left(0.0, 10, None) == ""  # no budget, no pace yet: nothing to say
    # half the bar after 10 s (a stage stopped early): half the budgets are left
    assert time_left(0.5, 10, planned) == time_left(0.0, 0, planned / 2) != \
        time_left(0.0, 10, planned)
    # a stage that reports nothing for a while: the time left counts down meanwhile
    assert time_left(0.5, 30, planned, still_s=20) == time_left(0.0, 0, planned / 2 - 20)
    assert time_left(0.9, 200, planned, still_s=60) == "about 5 s left"
    assert time_left(0.1, 10, None) == ""  # the pace of a tenth misleads
    assert time_left(0.5, 10, None) == "about 10 s left"
    assert time_left(0.5, planned + 60, planned) == time_left(0.5, planned + 60, None) != ""
    assert time_left(1.0, 10, planned) == ""


def test_the_adapt_bar_spans_every_variant_compared():
    """With two variants, finishing the first one's training is not most of the run."""
    from photofind.adapt.report import AdaptProgress
    from photofind.gui.adapt_dialog import overall

    def at(phase, part, epoch=1, epochs=1):
        return overall(AdaptProgress(phase, epoch, epochs, 1, 1, part=part, parts=2))

    marks = [at("caching", 0), at("training", 0), at("caching", 1), at("training", 1, 1, 2),
             at("training", 1), at("re-embedding", 1), at("reranker", 1)]
    assert marks == sorted(marks) and marks[-1] <= 1
    assert at("training", 0) <= 0.5 * at("training", 1)  # half the way to the re-embedding
    one = overall(AdaptProgress("training", 1, 1, 1, 1))
    assert one == at("training", 1)  # the end of training is the same place either way


def test_the_adapt_result_says_how_long_the_whole_run_took():
    """The sentence after a run gives the run's time, every variant and the re-ranker
    included, not the kept variant's own training (it said 20 s of a 218 s run)."""
    from photofind.adapt.report import AdaptResult
    from photofind.gui.adapt_dialog import Outcome, outcome_text

    result = AdaptResult(kept=True, variant="adapter", before={"R@1": 22.1},
                         after={"R@1": 22.7}, trainable_params=1, backbone_params=1,
                         seconds=20.0, epochs_run=4, seconds_per_epoch=5.0)
    text = outcome_text(Outcome(result, False, True, [], seconds=218.0))
    assert "comes first for 23, up from 22" in text and "It took 4 min;" in text


def test_the_adapt_bar_follows_the_time_budgets():
    """A CPU run ends by its budgets: each variant and the reranker get the bar in
    proportion to theirs, so the first seconds (nothing to cache, the plain model measured)
    do not look like a tenth of the run, and the time left does not shrink to a minute."""
    from photofind.adapt.report import AdaptProgress
    from photofind.gui.adapt_dialog import overall, time_left
    from photofind.services.adapting import budgets

    seconds = budgets()  # the button's: adapter 60, prompts 120, reranker 90
    total = sum(seconds)

    def at(phase, part, epoch=1, epochs=1, step=1, steps=1):
        parts = {"part": part, "parts": 2} if phase not in ("reranker", "re-embedding") \
            else {}  # those report after every variant, with no part of their own
        return overall(AdaptProgress(phase, epoch, epochs, step, steps, **parts),
                       (seconds[:2], seconds[2]))

    measured = at("baseline", 0)
    assert measured <= seconds[0] / total / 2
    assert time_left(measured, 8, total) == time_left(0.0, 8, total)  # the budgets speak
    assert at("training", 0, 10, 10) == seconds[0] / total  # the adapter's end
    assert at("training", 1, 10, 10) == (seconds[0] + seconds[1]) / total
    assert at("re-embedding", 1) == at("training", 1, 10, 10)
    assert at("reranker", 1, 1, 3) == (seconds[0] + seconds[1] + seconds[2] / 3) / total
    from photofind.gui.adapt_dialog import progress_text

    started = AdaptProgress("reranker", 0, 3)  # the re-ranker's stage has begun
    assert overall(started, (seconds[:2], seconds[2])) == at("re-embedding", 1)
    assert progress_text(started) == "getting ready" and "round 1 of 3" == \
        progress_text(AdaptProgress("reranker", 1, 3))
    marks = [at("caching", 0), at("training", 0, 1, 10), at("baseline", 1),
             at("training", 1, 5, 10), at("reranker", 1, 3, 3)]
    assert marks == sorted(marks) and marks[-1] == 1.0


def test_adapt_dialog_cancels_then_runs_to_the_end(qtbot, make_window, tmp_path):
    photos = copy_photos(tmp_path / "captioned", 48)  # real photos with their captions
    window = make_window()
    indexed(qtbot, window, tmp_path / "captioned", 48)
    captions = flickr_captions()
    add_texts(window, {p: [("caption", c) for c in captions[p.name][:2]] for p in photos[:44]})
    # patience 50: early stopping must not end the run before the cancel (a fast machine)
    window.adapt_options = {"variants": (AdaptConfig(epochs=50, batch_size=16, patience=50),),
                            "rerank": False}
    window.adapt_action.trigger()
    dialog = window.adapt_dialog
    qtbot.waitUntil(lambda: dialog.start.isEnabled(), timeout=WAIT_MS)
    assert dialog.intro.text().startswith("44 captioned and 0 tagged photos; at least 40")
    assert not_clipped(dialog)
    qtbot.mouseClick(dialog.start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "loss" in dialog.detail.toolTip(), timeout=WAIT_MS)
    assert dialog.phase.text().startswith("Training")
    assert re.search(r"round \d+ of 50", dialog.detail.text()), dialog.detail.text()
    reached = dialog.bar.value()
    assert 0 < reached < dialog.bar.maximum()  # one bar for the whole run: past preparing
    qtbot.waitUntil(lambda: dialog.bar.value() > reached, timeout=WAIT_MS)  # and it moves on
    qtbot.mouseClick(dialog.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.state == "cancelled", timeout=WAIT_MS)
    assert dialog.result.text() == "Cancelled — nothing changed."
    key = window.backend.lib.model_key

    # a budget far past one epoch's time: it only sets the time the dialog plans for
    dialog.options = {"variants": (AdaptConfig(epochs=1, batch_size=16, time_budget_s=600),),
                      "rerank": True}
    qtbot.mouseClick(dialog.start, Qt.MouseButton.LeftButton)
    # ~10 set-aside photos' captions cannot judge the re-ranker: the run is planned without
    # its 90 s (the bar and the time left), as it will end without it
    assert not dialog.looked["reranker_judgeable"]
    assert dialog.budgets == ([600], None) and dialog.planned_s == 600
    qtbot.waitUntil(lambda: dialog.state == "done", timeout=WAIT_MS)
    words = dialog.result.text()
    assert "for every 100 of your captions and tags set aside" in words and "R@1" not in words
    assert not dialog.metrics.isVisible()  # the numbers wait behind "Details"
    qtbot.mouseClick(dialog.details, Qt.MouseButton.LeftButton)
    assert dialog.metrics.isVisible() and dialog.rerank.isVisible()
    table = [w.text() for w in dialog.metrics.findChildren(QLabel)]
    assert {"R@1", "R@5", "R@10", "mAP", "plain model"} <= set(table)
    # fewer than 100 set-aside captions cannot both choose the re-ranker's weights and check them
    assert re.fullmatch(r"Re-ranker: off, \d+ set-aside captions or tags are too few to check "
                        r"it on \(it needs 100\)\.", dialog.rerank.text()), dialog.rerank.text()
    kept = words.startswith("Search for your own words got better")
    assert kept or words.startswith("No clear gain this time — your search is unchanged")
    assert kept == (window.backend.lib.model_key != key) and not_clipped(dialog)
    if kept:
        assert dialog.zero_shot.isEnabled()
        qtbot.mouseClick(dialog.zero_shot, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "back" in dialog.result.text().lower(), timeout=WAIT_MS)
        assert dialog.result.text().startswith("Back to the plain model"), dialog.result.text()
        assert window.backend.lib.model_key == key


def test_personal_concepts_are_listed_in_words_and_an_unticked_one_is_dropped(
        qtbot, make_window, tmp_path):
    """After a kept run, each learned word has a ticked checkbox and a line in plain words;
    unticking one and pressing "Stop using" drops it from the saved adaptation, the others
    stay."""
    import csv
    import json

    from PySide6.QtWidgets import QCheckBox

    from photofind.gui import adapt_dialog
    from photofind.services import adapting, artefacts

    from conftest import shared_data

    flowers = shared_data("flowers")
    with open(flowers / "tags.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = {"daisy": "Biscuit", "tulips": "Pemberton"}  # names the model cannot know
    chosen = [r for kind in names for r in [x for x in rows if x["tags"] == kind][:25]]
    folder = tmp_path / "flowers"
    folder.mkdir()
    for row in chosen + [r for r in rows if r["tags"] not in names][:20]:
        shutil.copy(flowers / "images" / row["image"], folder / row["image"])
    window = make_window()
    indexed(qtbot, window, folder, 70)
    add_texts(window, {folder / r["image"]: [("tag", names[r["tags"]])] for r in chosen})
    window.adapt_options = {"variants": (AdaptConfig(text=False, visual=False, epochs=2,
                                                     batch_size=16, concept_max_ap=101.0),),
                            "rerank": False}
    window.adapt_action.trigger()
    dialog = window.adapt_dialog
    qtbot.waitUntil(lambda: dialog.start.isEnabled(), timeout=WAIT_MS)
    assert not dialog.words.isVisible()  # nothing learned yet
    qtbot.mouseClick(dialog.start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.state == "done", timeout=WAIT_MS)
    assert dialog.result.text().startswith("Search for your own words got better")
    checks = dialog.words.findChildren(QCheckBox)
    assert dialog.words.isVisible() and all(c.isVisible() and c.isChecked() for c in checks)
    lines = sorted(c.text() for c in checks)
    assert [line.split(" — ")[0] for line in lines] == ["Biscuit", "Pemberton"]
    assert all("photos; before: " in line and ", now: found" in line and "AP" not in line
               for line in lines), lines
    assert "need no word of their own" in dialog.words.why.text() and not_clipped(dialog)
    assert not dialog.words.apply.isEnabled()  # nothing unticked yet

    biscuit = next(c for c in checks if c.text().startswith("Biscuit"))
    qtbot.mouseClick(biscuit, Qt.MouseButton.LeftButton)
    assert not biscuit.isChecked() and dialog.words.apply.isEnabled()
    qtbot.mouseClick(dialog.words.apply, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.words.note.text() == "Stopped using: Biscuit.",
                    timeout=WAIT_MS)

    def left() -> list[str]:  # a new checkbox shows once Qt gets to it (a queued show)
        return [c.text() for c in dialog.words.findChildren(QCheckBox) if c.isVisible()]

    qtbot.waitUntil(lambda: len(left()) == 1, timeout=WAIT_MS)
    assert left()[0].startswith("Pemberton — ")
    lib = window.backend.lib
    assert [c["name"] for c in adapting.concepts(lib)] == ["Pemberton"]
    saved = artefacts.locate(lib, artefacts.ADAPTATION, lib.embedder.base_key)
    assert list(json.loads(saved.with_suffix(".json").read_text())["concepts"]) == \
        ["c_pemberton"]  # dropped in the file, not only in memory
    assert not_clipped(dialog)
    row = {"name": "Biscuit", "photos": 12, "ap_zero_shot": 8.0, "ap_token": 61.0,
           "ap_prototype": 71.0}  # the better of the word and the photos' mean counts
    assert adapt_dialog.concept_text(row) == \
        "Biscuit — learned from 12 photos; before: hardly found, now: found fairly well"


def test_a_new_file_in_a_watched_folder_appears_by_itself(qtbot, make_window, tmp_path,
                                                           monkeypatch):
    monkeypatch.setattr(live, "DEBOUNCE_S", 0.3)
    monkeypatch.setattr(live, "CHECK_EVERY_S", 0.2)
    monkeypatch.setattr(window_module, "LIVE_POLL_MS", 100)
    folder = tmp_path / "Garden"
    make_photos(folder, 3)
    window = make_window()
    indexed(qtbot, window, folder, 3)
    qtbot.waitUntil(lambda: window.live_states.get(str(folder)) == "watching", timeout=WAIT_MS)
    assert "watching" in window.sidebar.itemWidget(window.sidebar.item(1)).detail.text()
    make_photos(folder, 1, start=3)  # nothing pressed from here on
    qtbot.waitUntil(lambda: window.model.rowCount() == 4 and window.photo_count == 4,
                    timeout=30_000)
    watcher = window.backend.live.watcher
    window.close()
    assert not watcher.running  # stopped with the window


@pytest.mark.skipif(__import__("importlib").util.find_spec("rapidocr") is None,
                    reason="rapidocr is not installed (pip install -e .[test] installs it)")
def test_text_in_photos_is_read_after_indexing_shown_and_searchable(qtbot, make_window,
                                                                   tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOFIND_READ_TEXT", "1")
    folder = tmp_path / "street"
    make_photos(folder, 3)
    write_sign(folder / "sign.jpg", "HARBOUR MARKET", 9)
    window = make_window()
    seen = []
    window.backend.text_progress.connect(lambda done, total: seen.append(
        (done, total, window.reading.isVisible(), window.reading.text())))
    indexed(qtbot, window, folder, 4)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] == 4 and not window.reading.isVisible(),
                    timeout=WAIT_MS)
    assert seen[-1][1:] == (4, True, "Reading text in photos: 4 of 4")
    qtbot.keyClicks(window.search, '"harbor market"')  # quoted, one letter off
    qtbot.waitUntil(lambda: shown(window) == ["sign.jpg"], timeout=WAIT_MS)
    window.grid.setCurrentIndex(window.model.index(0))
    qtbot.waitUntil(lambda: "HARBOUR MARKET" in window.detail.texts.text(), timeout=WAIT_MS)
    assert "Text in photo" in window.detail.texts.text()
    assert "read in the photo" in window.detail.texts.text()
    assert facts(window)["Matched"] == "your words in its captions, tags or text"
    window.search.clear()
    bar = window.filter_bar
    bar.caption.setCurrentIndex(bar.caption.findText("with text in the photo"))
    qtbot.waitUntil(lambda: shown(window) == ["sign.jpg"], timeout=WAIT_MS)
    bar.clear()
    qtbot.waitUntil(lambda: len(shown(window)) == 4, timeout=WAIT_MS)


def test_the_setting_turns_reading_text_off(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOFIND_READ_TEXT", "1")
    window = make_window()
    assert window.settings.library_options().read_text is True  # on unless turned off
    first = tmp_path / "first"
    first.mkdir()
    write_sign(first / "harbour.jpg", "HARBOUR", 1)
    with qtbot.waitSignal(window.backend.text_finished, timeout=WAIT_MS) as read:
        indexed(qtbot, window, first, 1)
    assert read.args[0].with_text == 1  # on: the new photo's text was read
    window.apply_options(SimpleNamespace(**{**vars(window.options), "read_text": False}))
    assert window.settings.library_options().read_text is False
    second = tmp_path / "second"
    second.mkdir()
    write_sign(second / "bakery.jpg", "BAKERY", 2)
    with qtbot.assertNotEmitted(window.backend.text_finished, wait=5000):
        indexed(qtbot, window, second, 2)  # off: indexed, and no text pass follows


def test_menus_follow_desktop_conventions_and_act(qtbot, make_window, monkeypatch):
    from photofind.gui import menus

    window = make_window()
    bar = window.menuBar()
    assert [a.text() for a in bar.actions()] == ["&File", "&Edit", "&View", "&Library", "&Help"]
    entries = {a.text(): a for m in bar.actions() for a in m.menu().actions() if a.text()}
    assert {"Add folder…", "Settings…", "Quit", "Find", "Select all results",
            "Clear search and filters", "Adapt to my library…", "Look for changes",
            "Keyboard shortcuts…", "About photofind"} <= set(entries)
    keys = dict(menus.shortcut_rows(window))
    assert keys["Quit"].startswith("Ctrl+Q") and keys["Add folder"] == "Ctrl+O"
    assert keys["Find"] == "Ctrl+F"
    box = menus.show_shortcuts(window)
    assert "Ctrl+Q" in box.text() and "Add folder" in box.text()
    box.close()
    asked = []
    monkeypatch.setattr(window, "choose_folder", lambda: asked.append("add"))
    window.add_action.triggered.disconnect()
    window.add_action.triggered.connect(window.choose_folder)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.grid, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert asked == ["add"]
    entries["Quit"].trigger()
    qtbot.waitUntil(lambda: not window.isVisible())


def test_view_menu_sorts_by_date_taken_and_remembers_it(qtbot, make_window, described):
    """View › Sort by: four exclusive choices. Listing photos follows the date order chosen,
    undated photos last; a query's matches (here those above the score slider: the photos
    whose texts hold its word) are put in date order and the header says so; the choice
    is there again after a restart."""
    folder, photos = described  # photos 0-2 taken 1-3 July 2019; the others: file dates
    window = make_window(settings_file="sort.ini")
    indexed(qtbot, window, folder, 8)
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    sort_by = next(a.menu() for a in view.actions() if a.text() == "Sort by")
    choices = [a for a in sort_by.actions() if not a.isSeparator()]
    assert [a.text() for a in choices] == ["Best match", "Date taken, newest first",
                                           "Date taken, oldest first", "File name"]
    assert all(a.isCheckable() for a in choices)
    assert [a.text() for a in choices if a.isChecked()] == ["Best match"]
    lib = window.backend.lib
    with lib.catalog.transaction() as db:  # a photo whose date is unknown
        db.execute("UPDATE photos SET taken_at = NULL WHERE path = ?", (str(photos[5]),))
    add_texts(window, {photos[1]: [("caption", "a kayak at sea")],
                       photos[3]: [("tag", "kayak")], photos[5]: [("caption", "kayak trip")]})
    names = [p.name for p in photos]

    window.menu_actions["sort_oldest"].trigger()  # browsing: the whole library, by date
    assert [a.text() for a in choices if a.isChecked()] == ["Date taken, oldest first"]
    qtbot.waitUntil(lambda: shown(window) == [names[i] for i in (0, 1, 2, 3, 4, 6, 7, 5)],
                    timeout=WAIT_MS)
    assert "All photos · 8, oldest first" in window.header.text()

    window.min_score.setValue(30)  # above anything the tiny model scores: text matches only
    window.menu_actions["sort_best"].trigger()
    qtbot.keyClicks(window.search, "kayak")
    matches = [names[i] for i in (0, 1, 3, 5)]  # photo 0's sidecar caption has a kayak too
    qtbot.waitUntil(lambda: sorted(shown(window)) == matches and None not in scores(window),
                    timeout=WAIT_MS)
    assert "best first" in window.header.text()
    window.menu_actions["sort_newest"].trigger()
    qtbot.waitUntil(lambda: shown(window) == [names[i] for i in (3, 1, 0, 5)], timeout=WAIT_MS)
    assert "4 matches for <b>“kayak”</b>, newest first" in window.header.text()
    labels = [window.model.index(row).data() for row in range(4)]  # dates, not names
    days = [QLocale().toString(QDate(2019, 7, day), QLocale.FormatType.ShortFormat)
            for day in (2, 1)]
    assert labels[1:] == [*days, "date unknown"]
    assert [a.text() for a in choices if a.isChecked()] == ["Date taken, newest first"]
    window.close()

    again = make_window(settings_file="sort.ini")
    assert again.menu_actions["sort_newest"].isChecked() and again.sort_order == "newest"
    qtbot.waitUntil(lambda: shown(again) == [names[i] for i in (3, 1, 0, 5)], timeout=WAIT_MS)


def test_library_menu_removes_the_chosen_folder(qtbot, make_window, tmp_path, monkeypatch):
    from photofind.gui import folder_jobs

    keep, drop_me = tmp_path / "keep", tmp_path / "drop-me"
    make_photos(keep, 2)
    make_photos(drop_me, 2, start=2)
    window = make_window()
    indexed(qtbot, window, keep, 2)
    drop(window, drop_me)
    qtbot.waitUntil(lambda: window.jobs == 0 and window.photo_count == 4, timeout=WAIT_MS)
    told, asked = [], []
    monkeypatch.setattr(folder_jobs.QMessageBox, "information",
                        lambda _parent, _title, text: told.append(text))
    monkeypatch.setattr(folder_jobs.QMessageBox, "question",
                        lambda _parent, _title, text: asked.append(text)
                        or folder_jobs.QMessageBox.StandardButton.Yes)
    window.menu_actions["forget"].trigger()  # no folder chosen yet: said how
    assert told and "Choose one of your folders" in told[0] and not asked
    side = window.sidebar  # a click on the folder, as a person chooses it
    side.setCurrentRow([side.item(i).data(Qt.ItemDataRole.UserRole + 1)
                        for i in range(side.count())].index(str(drop_me)))
    assert window.folder == str(drop_me)
    window.menu_actions["forget"].trigger()
    assert asked and "Your photos stay where they are" in asked[0]
    qtbot.waitUntil(lambda: [r["path"] for r in window.roots] == [str(keep)], timeout=WAIT_MS)
    assert sorted(p.name for p in drop_me.iterdir()) == ["photo-0002.jpg", "photo-0003.jpg"]


def test_clear_resets_the_score_slider_and_a_new_search_clears_a_stale_detail_pane(
        qtbot, make_window, tmp_path):
    window = make_window()
    make_photos(tmp_path / "photos", 6)
    indexed(qtbot, window, tmp_path / "photos", 6)
    window.min_score.setValue(20)
    window.filter_bar.clear_button.click()
    assert window.min_score.value() == 0
    window.grid.setCurrentIndex(window.model.index(0))
    qtbot.waitUntil(lambda: window.detail.hit is not None, timeout=WAIT_MS)
    window.filter_bar.camera.setText("no such camera")  # the photo shown is filtered out
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=WAIT_MS)
    assert window.detail.hit is None
    assert "Select a photo" in window.detail.picture.text()
    window.search.setText("beach")
    window.min_score.setValue(30)
    window.menu_actions["clear_filters"].trigger()
    assert (window.search.text(), window.min_score.value()) == ("", 0)
    assert not window.filter_bar.filters().active()
    qtbot.waitUntil(lambda: window.model.rowCount() == 6, timeout=WAIT_MS)


def test_a_named_data_folder_keeps_the_apps_state_beside_it(qtbot, tmp_path):
    from photofind.gui.app import settings_for

    settings = settings_for(SimpleNamespace(data_dir=str(tmp_path / "lib-a")))
    settings.set("search/last_query", "red kayak")
    settings.store.sync()
    assert (tmp_path / "lib-a" / "app-settings.ini").exists()
    again = settings_for(SimpleNamespace(data_dir=str(tmp_path / "lib-a")))
    assert again.get("search/last_query") == "red kayak"
    other = settings_for(SimpleNamespace(data_dir=str(tmp_path / "lib-b")))
    assert other.get("search/last_query") is None


def test_status_window_lists_unreadable_photos_and_tries_them_again(qtbot, make_window,
                                                                    tmp_path):
    folder = tmp_path / "photos"
    make_photos(folder, 3)
    broken = folder / "half.jpg"
    whole = (folder / "photo-0000.jpg").read_bytes()
    broken.write_bytes(whole[: len(whole) // 3])
    window = make_window()
    indexed(qtbot, window, folder, 3)
    qtbot.waitUntil(lambda: window.photo_count == 3, timeout=WAIT_MS)
    window.menu_actions["status"].trigger()
    qtbot.waitUntil(lambda: getattr(window, "status_dialog", None) is not None, timeout=WAIT_MS)
    dialog = window.status_dialog
    assert "3 photos searchable, 1 could not be read" in dialog.summary.text()
    assert dialog.problems.rowCount() == 1
    assert dialog.problems.item(0, 0).text() == "half.jpg"
    assert "truncated" in dialog.problems.item(0, 1).text()
    assert dialog.folders.item(0, 2).text() == "connected"
    catalog = window.backend.lib.catalog

    def tried_at() -> float:
        return catalog.photo_by_path(broken).indexed_at

    first = tried_at()
    window.rescan_action.trigger()  # "Look for changes": an unchanged failure is not re-read
    qtbot.waitUntil(lambda: window.jobs == 0, timeout=WAIT_MS)
    assert tried_at() == first
    dialog.retry.click()  # "Try again": it is, though unchanged
    qtbot.waitUntil(lambda: window.jobs == 0 and tried_at() > first, timeout=WAIT_MS)
    assert "truncated" in catalog.photo_by_path(broken).error  # and says why once more


def fully_visible(window: MainWindow) -> int:
    """How many thumbnails are wholly inside the grid's viewport."""
    view = window.grid.viewport().rect()
    return sum(view.contains(window.grid.visualRect(window.model.index(row)))
               for row in range(window.model.rowCount()))


def test_the_grid_shows_thirty_photos_at_1280x800_and_zooms(qtbot, make_window, tmp_path):
    window = make_window(settings_file="zoom.ini")
    window.resize(1280, 800)
    make_photos(tmp_path / "photos", 48)
    indexed(qtbot, window, tmp_path / "photos", 48)
    qtbot.waitUntil(lambda: fully_visible(window) >= 30, timeout=WAIT_MS)
    default = window.grid.thumb_size
    wheel = QWheelEvent(QPointF(50, 50), QPointF(50, 50), QPoint(), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(window.grid.viewport(), wheel)  # Ctrl + wheel up: larger
    assert window.grid.thumb_size > default and window.zoom.value() == window.grid.thumb_size
    assert fully_visible(window) < 30
    window.menu_actions["smaller"].trigger()
    window.menu_actions["smaller"].trigger()
    assert window.grid.thumb_size < default and window.zoom.value() == window.grid.thumb_size
    window.zoom.setValue(10)  # the slider keeps to sizes a person can see
    assert window.grid.thumb_size == window.zoom.minimum() >= 48
    window.zoom.setValue(144)
    window.close()
    again = make_window(settings_file="zoom.ini")  # the size chosen is kept
    assert again.grid.thumb_size == 144


def test_scrolling_to_the_end_fetches_the_next_page(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setattr(window_module, "BROWSE_PAGE", 10)
    monkeypatch.setattr(window_module, "SEARCH_PAGE", 8)
    window = make_window()
    window.resize(1280, 800)
    make_photos(tmp_path / "photos", 30)
    drop(window, tmp_path / "photos")
    qtbot.waitUntil(lambda: window.jobs == 0 and window.photo_count == 30, timeout=WAIT_MS)
    window.run_search()  # browsing: the first page
    qtbot.waitUntil(lambda: window.model.rowCount() == 10, timeout=WAIT_MS)
    assert "more as you scroll" in window.header.text()
    window.grid.setCurrentIndex(window.model.index(2))
    first = [h.photo.id for h in window.model.hits]
    for pages in (20, 30):
        window.grid.scrollToBottom()
        window.grid.near_end.emit()  # also what the scroll bar says near its end
        qtbot.waitUntil(lambda n=pages: window.model.rowCount() == n, timeout=WAIT_MS)
    assert [h.photo.id for h in window.model.hits][:10] == first  # appended, not replaced
    assert window.grid.currentIndex().row() == 2
    assert "more as you scroll" not in window.header.text()  # all 30 are shown
    qtbot.keyClicks(window.search, "a dog on the grass")
    qtbot.waitUntil(lambda: window.model.rowCount() == 8 and None not in scores(window),
                    timeout=WAIT_MS)
    best = [h.photo.id for h in window.model.hits]
    window.grid.near_end.emit()
    qtbot.waitUntil(lambda: window.model.rowCount() == 16, timeout=WAIT_MS)
    assert [h.photo.id for h in window.model.hits][:8] == best
    assert len({h.photo.id for h in window.model.hits}) == 16


def test_a_library_change_keeps_the_listing_being_scrolled_through(
        qtbot, make_window, tmp_path, monkeypatch):
    """Indexing that finishes (here: the same folder checked again) asks the listing again
    as far as it was scrolled; it neither starts over at the first page nor jumps to the
    top (it did both at every catch-up scan while a person scrolled)."""
    monkeypatch.setattr(window_module, "BROWSE_PAGE", 10)
    window = make_window()
    window.resize(1280, 800)
    make_photos(tmp_path / "photos", 30)
    drop(window, tmp_path / "photos")
    qtbot.waitUntil(lambda: window.jobs == 0 and window.photo_count == 30
                    and window.model.rowCount() == 10, timeout=WAIT_MS)
    window.zoom.setValue(window.zoom.maximum())  # big thumbnails: 20 rows need scrolling
    window.grid.scrollToBottom()
    window.grid.near_end.emit()
    qtbot.waitUntil(lambda: window.model.rowCount() == 20, timeout=WAIT_MS)
    bar = window.grid.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    where, shown = bar.value(), [h.photo.id for h in window.model.hits]
    assert where > 0
    with qtbot.waitSignal(window.backend.answered, timeout=WAIT_MS):
        drop(window, tmp_path / "photos")  # checked again: nothing changed
    qtbot.waitUntil(lambda: window.jobs == 0, timeout=WAIT_MS)
    qtbot.wait(200)  # any answer still on its way is shown
    assert [h.photo.id for h in window.model.hits] == shown
    assert bar.value() == where


def test_the_built_in_viewer_shows_results_large_and_steps_through_them(
        qtbot, make_window, tmp_path, monkeypatch):
    from photofind.gui import actions

    window = make_window()
    folder = tmp_path / "photos"
    make_photos(folder, 4)
    write_sign(folder / "turned.jpg", "HARBOUR", 9, orientation=6)  # stored sideways
    indexed(qtbot, window, folder, 5)
    row = next(i for i, h in enumerate(window.model.hits) if h.photo.path.endswith("turned.jpg"))
    window.grid.setFocus()
    window.grid.setCurrentIndex(window.model.index(row))
    qtbot.keyClick(window.grid, Qt.Key.Key_Return)  # Enter opens it here, not elsewhere
    viewer = window.viewer
    assert viewer is not None and viewer.isVisible() and viewer.index == row
    qtbot.waitUntil(lambda: viewer.image is not None, timeout=WAIT_MS)
    stored = Image.open(folder / "turned.jpg")
    upright = ImageOps.exif_transpose(stored).size
    assert upright != stored.size  # EXIF orientation honoured: shown upright
    assert (viewer.image.width(), viewer.image.height()) == upright
    assert f"{row + 1} of 5" in viewer.caption.text()
    qtbot.keyClick(viewer, Qt.Key.Key_End)
    assert viewer.index == 4
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # the last stays the last
    assert viewer.index == 4
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    assert viewer.index == 3
    qtbot.waitUntil(lambda: viewer.image is not None, timeout=WAIT_MS)
    fitted = viewer.picture.pixmap().width()
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)
    assert viewer.picture.pixmap().width() > fitted
    qtbot.keyClick(viewer, Qt.Key.Key_0)
    assert viewer.picture.pixmap().width() == fitted
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert not viewer.isVisible() and window.grid.currentIndex().row() == 3  # back there
    said = []
    monkeypatch.setattr(actions.QDesktopServices, "openUrl", lambda url: False)
    monkeypatch.setattr(actions.QMessageBox, "information",
                        lambda parent, title, text: said.append(text))
    window.photo_actions.open.trigger()  # no desktop viewer: say so, show it here
    assert said and "No program to open photos" in said[0]
    assert window.viewer is not viewer and window.viewer.isVisible()
    assert window.viewer.hit.photo.id == window.model.hits[3].photo.id
    window.viewer.close()
    window.photo_actions.reveal.trigger()  # no file manager: the folder is named instead
    assert str(folder) in said[1] and QApplication.clipboard().text().startswith(str(folder))
