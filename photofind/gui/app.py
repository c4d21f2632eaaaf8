"""Start the desktop app: ``photofind`` with no command lands here."""

from __future__ import annotations

import sys
from importlib import resources

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen

from photofind.gui.settings import APPLICATION, ORGANIZATION, Settings


def app_icon() -> QIcon:
    return QIcon(str(resources.files("photofind") / "resources" / "photofind.svg"))


def splash_pixmap(app: QApplication) -> QPixmap:
    """A small card: the icon and what is happening (the first start takes a while)."""
    card = QPixmap(360, 260)
    card.fill(app.palette().color(QPalette.ColorRole.Window))
    painter = QPainter(card)
    painter.drawPixmap(100, 24, app_icon().pixmap(160, 160))
    painter.setPen(app.palette().color(QPalette.ColorRole.WindowText))
    painter.drawText(QRect(0, 196, 360, 40), Qt.AlignmentFlag.AlignCenter,
                     "Starting photofind…")
    painter.end()
    return card


def preload_model_code() -> None:
    """Import open_clip (and with it torch, torchvision, timm, transformers) before the
    window exists. Imported later from a worker thread, its C extensions hold the GIL for
    up to ~0.4 s at a time, which would freeze the window; here it only delays the start."""
    try:
        import open_clip  # noqa: F401
    except ImportError:
        pass  # loading the model will explain what is missing


def run_app(args) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("photofind")
    app.setDesktopFileName("photofind")
    app.setWindowIcon(app_icon())
    splash = QSplashScreen(splash_pixmap(app))
    splash.show()
    app.processEvents()
    preload_model_code()
    from photofind.gui.window import MainWindow  # imports the core (torch) too

    window = MainWindow(Settings(), overrides=args)
    window.show()
    splash.finish(window)
    return app.exec()
