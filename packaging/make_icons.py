"""Render photofind's one SVG into the PNG sizes desktops look for (the hicolor icon theme),
plus the .ico (Windows) and .icns (macOS) the PyInstaller spec needs on those systems.

Run from anywhere: ``python packaging/make_icons.py [--ico-icns-only OUT_DIR]``. The PNGs are
committed under ``resources/icons/hicolor/<n>x<n>/apps/photofind.png`` so a build
needs no Qt-with-SVG at build time; re-run this after editing the SVG. Rendering uses Qt's
``QSvgRenderer`` on the offscreen platform, so it works without a display.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
SVG = RESOURCES / "photofind.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # the ICO format stops at 256
ICNS_SIZES = (16, 32, 64, 128, 256, 512)


def png_path(size: int, root: Path = RESOURCES) -> Path:
    return root / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "photofind.png"


def render_pngs(root: Path = RESOURCES) -> list[Path]:
    """Draw the SVG at each size (antialiased, transparent background)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    written = []
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        target = png_path(size, root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target), "PNG"):
            raise SystemExit(f"cannot write {target}")
        written.append(target)
    return written


def write_ico_icns(out_dir: Path, root: Path = RESOURCES) -> tuple[Path, Path]:
    """photofind.ico and photofind.icns from the committed PNGs (Pillow; no Qt needed)."""
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    biggest = Image.open(png_path(max(SIZES), root)).convert("RGBA")
    ico, icns = out_dir / "photofind.ico", out_dir / "photofind.icns"
    biggest.save(ico, sizes=[(s, s) for s in ICO_SIZES])
    extra = [Image.open(png_path(s, root)).convert("RGBA") for s in ICNS_SIZES[:-1]]
    biggest.save(icns, append_images=extra)
    return ico, icns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ico-icns-only", metavar="OUT_DIR",
                        help="only write photofind.ico/.icns from the committed PNGs")
    args = parser.parse_args()
    if args.ico_icns_only:
        for path in write_ico_icns(Path(args.ico_icns_only)):
            print(path)
        return 0
    for path in render_pngs():
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
