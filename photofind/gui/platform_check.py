"""Before the window opens on Linux: can Qt's X11 plugin load?

On a bare Debian or Ubuntu desktop, PySide6's ``xcb`` plugin needs system libraries that are
not installed by default (``libxcb-cursor0`` first of all). Qt then prints a hint about
plugins and aborts, which tells a person nothing they can act on. This asks the dynamic
linker (``ldd``) what the plugin lacks and names the packages to install instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

# library file -> (Debian/Ubuntu package, Fedora package)
PACKAGES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.M)


def missing_in(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as "not found", in its order, once each."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def xcb_plugin() -> Path | None:
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def uses_xcb(environ=os.environ) -> bool:
    """Whether Qt will pick its X11 plugin: Linux, no other platform asked for, no Wayland."""
    if not sys.platform.startswith("linux"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "")
    if asked:
        return asked.startswith("xcb")
    return not environ.get("WAYLAND_DISPLAY") and bool(environ.get("DISPLAY"))


def problem(plugin: Path | None = None, environ=os.environ) -> str | None:
    """What to tell a person whose system lacks the plugin's libraries; None if all is well
    (or it cannot be told: no ldd, not X11)."""
    plugin = plugin or xcb_plugin()
    if plugin is None or not uses_xcb(environ):
        return None
    try:
        done = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    missing = missing_in(done.stdout)
    return message(missing) if missing else None


def message(missing: list[str]) -> str:
    """The libraries missing, and the packages that bring them (the library's own name where
    the package is not known here)."""
    debian = sorted({PACKAGES.get(lib, (lib, lib))[0] for lib in missing})
    fedora = sorted({PACKAGES.get(lib, (lib, lib))[1] for lib in missing})
    return ("photofind cannot open its window: the system lacks "
            f"{', '.join(missing)}, which the desktop toolkit (Qt) needs.\n"
            f"  Debian/Ubuntu: sudo apt install {' '.join(debian)}\n"
            f"  Fedora:        sudo dnf install {' '.join(fedora)}\n"
            "The command line works without them (photofind --help).")
