"""Start the desktop app: ``photofind`` with no command lands here."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen

from photofind.gui import platform_check
from photofind.gui.settings import APPLICATION, ORGANIZATION, Settings


def resource_file(name: str) -> Path:
    """One of the app's resources (icons, desktop entry). An installed package (wheel,
    PyInstaller bundle) carries them as ``photofind/resources``; running from a checkout
    (an editable install, or ``PYTHONPATH``) they are the repository's top-level
    ``resources/``, the one copy there is."""
    packaged = resources.files("photofind") / "resources" / name
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "resources" / name


def app_icon() -> QIcon:
    return QIcon(str(resource_file("photofind.svg")))


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


def settings_for(args) -> Settings:
    """The app's settings and state (window, last query): beside the library when a data
    folder is named on the command line, so two libraries keep their own; else the user's
    config folder."""
    data_dir = getattr(args, "data_dir", None)
    if not data_dir:
        return Settings()
    from PySide6.QtCore import QSettings

    path = Path(data_dir).expanduser() / "app-settings.ini"
    return Settings(QSettings(str(path), QSettings.Format.IniFormat))


def run_app(args) -> int:
    if QApplication.instance() is None and (trouble := platform_check.problem()):
        print(trouble, file=sys.stderr)  # Qt would abort with a hint about plugins
        return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("photofind")
    app.setDesktopFileName("photofind")
    app.setWindowIcon(app_icon())
    splash = QSplashScreen(splash_pixmap(app))
    splash.show()
    app.processEvents()
    # The window comes up before any model is loaded: the search thread loads it (ONNX
    # Runtime, no torch once the model was exported) and queues what is typed meanwhile.
    from photofind.gui.window import MainWindow

    window = MainWindow(settings_for(args), overrides=args)
    window.show()
    splash.finish(window)
    return app.exec()
