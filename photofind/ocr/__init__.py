"""Reading the text in photos (OCR): signs, shop names, race numbers, screenshots.

``reader`` wraps RapidOCR (PP-OCR detection and recognition models shipped inside its wheel,
run by ONNX Runtime, so it works offline); ``worker`` runs it in a low-priority process of its
own; ``phrases`` matches quoted phrases forgivingly, as OCR makes slips.
"""

from __future__ import annotations

import os

SWITCH_ENV = "PHOTOFIND_READ_TEXT"  # "0" turns the text-in-photos pass off, for every face


def enabled() -> bool:
    """Whether text in photos is read (on unless ``PHOTOFIND_READ_TEXT`` says no)."""
    return os.environ.get(SWITCH_ENV, "1").strip().lower() not in ("0", "no", "off", "false")

# a reading's error when the file was gone: not stored, so the photo stays due (a drive pulled
# out mid-pass, a file being replaced)
MISSING = "file disappeared before its text could be read"
