"""On a desktop that lacks the libraries Qt's X11 plugin needs, photofind names the packages
to install instead of letting Qt abort with a hint about plugins. Checked with the real
dynamic linker on a real shared object whose dependency is missing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from photofind.gui import platform_check


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ldd") is None,
                    reason="needs gcc and ldd to build a plugin with a missing dependency")
def test_a_plugin_whose_library_is_missing_is_caught_before_qt_aborts(tmp_path):
    stub, plugin = tmp_path / "libxcb-photofind-gone.so.0", tmp_path / "libqxcb.so"
    (tmp_path / "a.c").write_text("int gone_stub(void) { return 0; }\n")
    (tmp_path / "b.c").write_text("int gone_stub(void);\n"
                                  "int plugin(void) { return gone_stub(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(stub), str(tmp_path / "a.c"),
                    f"-Wl,-soname,{stub.name}"], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), str(tmp_path / "b.c"),
                    str(stub)], check=True)
    stub.unlink()  # as on a bare desktop: the plugin needs it, the system lacks it
    said = platform_check.problem(plugin, {"DISPLAY": ":0"})
    assert said is not None and "libxcb-photofind-gone.so.0" in said
    assert "sudo apt install" in said and "photofind --help" in said
    assert platform_check.problem(plugin, {"QT_QPA_PLATFORM": "offscreen"}) is None
    assert platform_check.problem(plugin, {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}) \
        is None


def test_the_packages_of_a_bare_debian_are_named():
    said = platform_check.message(["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4" in said
    assert "sudo dnf install xcb-util-cursor xcb-util-wm" in said


def test_on_this_machine_the_check_names_exactly_what_the_system_lacks():
    """The real plugin, judged against the system's own list of libraries (``ldconfig -p``)
    and the names the Qt X11 binaries ask for: on a desktop with Qt's X11 libraries the app
    starts past the check; on a bare one (a fresh CI or cloud machine) the message names each
    library the binaries need and the system lacks, and never one the system has."""
    plugin = platform_check.xcb_plugin()
    assert plugin is not None
    if not sys.platform.startswith("linux"):
        return
    listed = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                            check=True).stdout
    on_system = set(re.findall(r"^\s*(\S+) \(", listed, re.M))
    binaries = plugin.read_bytes() + b"".join(
        path.read_bytes() for path in (plugin.parents[2] / "lib").glob("libQt6XcbQpa.so*"))
    lacking = [lib for lib in platform_check.PACKAGES
               if lib.encode() in binaries and lib not in on_system]
    said = platform_check.problem(plugin, {"DISPLAY": ":0"})
    if not lacking:
        assert said is None
        return
    assert said is not None and all(lib in said for lib in lacking), (lacking, said)
    named = said.split(" the system lacks ")[1].split(", which ")[0].split(", ")
    assert not set(named) & on_system, (named, said)


def test_ldd_output_is_read_for_what_is_not_found():
    output = ("\tlinux-vdso.so.1 (0x00007ffd)\n"
              "\tlibxcb-cursor.so.0 => not found\n"
              "\tlibxcb-icccm.so.4 => not found\n"
              "\tlibQt6Gui.so.6 => /opt/Qt/lib/libQt6Gui.so.6 (0x00007f)\n"
              "\tlibxcb-cursor.so.0 => not found\n")
    assert platform_check.missing_in(output) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
