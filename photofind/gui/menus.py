"""The main window's menu bar, following the desktop's conventions: File, Edit, View,
Library, Help. Built from the window's actions (each already carries its shortcut), so a
menu entry, a toolbar button and a key do the same thing."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox

from photofind.gui.queries import SORT_ORDERS

SHORTCUTS_TITLE = "Keyboard shortcuts"


def build_menus(window: QMainWindow) -> dict[str, QAction]:
    """Fill ``window``'s menu bar; returns the actions made here by name."""
    bar = window.menuBar()
    made = {
        "quit": _action(window, "Quit", window.close, QKeySequence.StandardKey.Quit, "Ctrl+Q"),
        "select_all": _action(window, "Select all results", window.grid.selectAll,
                              QKeySequence.StandardKey.SelectAll),
        "clear_filters": _action(window, "Clear search and filters", window.clear_all,
                                 "Ctrl+Shift+X"),
        "shortcuts": _action(window, SHORTCUTS_TITLE + "…", lambda: show_shortcuts(window),
                             QKeySequence.StandardKey.HelpContents, "F1"),
        "about": _action(window, "About photofind", lambda: show_about(window)),
        "status": _action(window, "Library status…", window.open_status, "Ctrl+I"),
        "forget": _action(window, "Remove folder from photofind…", window.forget_chosen_folder),
        "larger": _action(window, "Larger thumbnails", lambda: window.zoom.setValue(
            window.zoom.value() + window.zoom.singleStep()), QKeySequence.StandardKey.ZoomIn,
            "Ctrl+="),
        "smaller": _action(window, "Smaller thumbnails", lambda: window.zoom.setValue(
            window.zoom.value() - window.zoom.singleStep()), QKeySequence.StandardKey.ZoomOut),
    }
    file_menu = bar.addMenu("&File")
    file_menu.addAction(window.add_action)
    file_menu.addAction(window.settings_action)
    file_menu.addSeparator()
    file_menu.addAction(made["quit"])
    edit = bar.addMenu("&Edit")
    edit.addAction(window.find_action)
    edit.addAction(made["select_all"])
    edit.addAction(window.edit_action)
    edit.addAction(made["clear_filters"])
    view = bar.addMenu("&View")
    view.addActions(window.photo_actions.all)
    view.addSeparator()
    view.addAction(made["larger"])
    view.addAction(made["smaller"])
    view.addSeparator()
    made.update(_sort_menu(window, view.addMenu("Sort by")))
    library = bar.addMenu("&Library")
    library.addAction(window.adapt_action)
    library.addAction(window.rescan_action)
    library.addAction(made["status"])
    library.addAction(made["forget"])
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(made["shortcuts"])
    help_menu.addAction(made["about"])
    return made


def sort_key(order: str | None) -> str:
    """The name of an order's action among ``build_menus``' ("sort_best", "sort_oldest")."""
    return f"sort_{order or 'best'}"


def _sort_menu(window, menu) -> dict[str, QAction]:
    """One checked choice among the orders (a radio group), "Best match" first; the window
    checks the one it restores from its settings."""
    group, actions = QActionGroup(menu), {}
    for order, text in SORT_ORDERS.items():
        action = actions[sort_key(order)] = QAction(text, group, checkable=True)
        action.triggered.connect(lambda _checked, order=order: window.set_sort_order(order))
        menu.addAction(action)
    actions[sort_key(None)].setChecked(True)
    return actions


def _action(window, text: str, slot, *shortcuts) -> QAction:
    action = QAction(text, window)
    keys: dict[str, QKeySequence] = {}  # a standard key is often one of the others too
    for shortcut in shortcuts:
        for key in (QKeySequence.keyBindings(shortcut)
                    if isinstance(shortcut, QKeySequence.StandardKey) else [QKeySequence(shortcut)]):
            if not key.isEmpty():
                keys.setdefault(key.toString(), key)
    action.setShortcuts(list(keys.values()))
    action.triggered.connect(slot)
    window.addAction(action)
    return action


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str]]:
    """(what, keys) of every window action that has a key, in menu order."""
    rows, seen = [], set()
    for menu_action in window.menuBar().actions():
        for action in menu_action.menu().actions():
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                             for k in action.shortcuts())
            if keys and action not in seen:
                seen.add(action)
                rows.append((action.text().replace("&", "").rstrip("…"), keys))
    return rows


def show_shortcuts(window: QMainWindow) -> QMessageBox:
    rows = "".join(f"<tr><td>{what}</td><td style='padding-left:16px'><b>{keys}</b></td></tr>"
                   for what, keys in shortcut_rows(window))
    box = QMessageBox(QMessageBox.Icon.NoIcon, SHORTCUTS_TITLE,
                      f"<table>{rows}</table><p>In the results: arrow keys move, Enter opens "
                      "the photo.</p>", parent=window)
    box.setModal(False)
    box.show()
    return box


def show_about(window: QMainWindow) -> None:
    from photofind import __version__

    QMessageBox.about(window, "About photofind",
                      f"<b>photofind {__version__}</b><p>Find photos in your own library by "
                      "what you remember. Your photos stay on this computer; nothing is "
                      "written into your photo folders.</p>")
