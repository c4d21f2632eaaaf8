"""Persistent preferences (QSettings, organisation "photofind"), among them the library
options that ``photofind.services.options.open_library`` turns into a ``PhotoLibrary``.
Command-line options win over stored ones for that run only."""

from __future__ import annotations

import os
from types import SimpleNamespace

from PySide6.QtCore import QSettings

ORGANIZATION = APPLICATION = "photofind"
READ_TEXT_KEY = "library/read_text"  # read the text in photos after indexing (default on)
SIDECARS_KEY = "library/write_sidecars"  # own captions and tags also into photo.jpg.xmp (off)
LIBRARY_KEYS = {  # option name (as on the command line) -> settings key
    "model": "model/name",
    "pretrained": "model/pretrained",
    "model_config": "model/config",
    "device": "model/device",
    "data_dir": "library/data_dir",
}


class Settings:
    def __init__(self, store: QSettings | None = None):
        """An INI file in the user's config folder on every platform (readable, and tests
        can redirect it with ``QSettings.setPath``)."""
        self.store = store or QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                        ORGANIZATION, APPLICATION)

    def get(self, key: str, default=None, kind: type | None = None):
        value = self.store.value(key, default)
        if kind is not None and value is not None:
            try:
                return kind(value)
            except (TypeError, ValueError):
                return default
        return value

    def set(self, key: str, value) -> None:
        if value in (None, ""):
            self.store.remove(key)
        else:
            self.store.setValue(key, value)

    def library_options(self, overrides=None) -> SimpleNamespace:
        """Model/device/data-dir/workers: ``overrides`` (parsed CLI args) over stored ones."""
        options = {name: self.get(key) or None for name, key in LIBRARY_KEYS.items()}
        options["workers"] = None
        options["read_text"] = self.get(READ_TEXT_KEY, True, bool)
        options["write_sidecars"] = self.get(SIDECARS_KEY, False, bool)
        for name in (*options, "workers"):
            value = getattr(overrides, name, None)
            if value is not None and not (name == "device" and value == "auto"):
                options[name] = value
        return SimpleNamespace(**options)

    def save_library_options(self, options: SimpleNamespace) -> None:
        for name, key in LIBRARY_KEYS.items():
            self.set(key, getattr(options, name, None))
        self.set(READ_TEXT_KEY, bool(getattr(options, "read_text", True)))
        self.store.setValue(SIDECARS_KEY, bool(getattr(options, "write_sidecars", False)))
        self.store.sync()


def model_label(spec) -> str:
    """A short name for a ``ModelSpec``: file names, not whole paths."""
    weights = os.path.basename(spec.pretrained or "")
    if spec.config:
        return f"{os.path.basename(spec.config)} + {weights}"
    return f"{spec.name} ({weights})"
