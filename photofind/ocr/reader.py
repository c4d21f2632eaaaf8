"""One photo in, its lines of text out, through RapidOCR's ONNX models.

A photo is first looked at small: detection alone at ``LOOK_SCALE`` of the size the full pass
reads it at. Most photos hold no text, and for them that look is all the cost (about half
of a full detection). Only when it finds something does the full pass (detection and
recognition at full size) run. At 0.7, text 14 px high is still about 10 px, which the
detector finds: on ``benchmarks/bench_ocr.py`` the look lost no photo with 14-24 px words and
2 of 200 overall, where 0.45 lost 9 of the 36 with 14-24 px words. Photos are read
upright (EXIF orientation) at most ``MAX_SIDE`` pixels on their long side: enough for a sign
in a 12-MP photo, and what bounds the cost of a panorama. Lines the recogniser is unsure of,
or that hold no letter or digit, are dropped: a false word in a clean photo would make it
match queries it has nothing to do with.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from photofind.library.decode import PhotoError, open_photo

MAX_SIDE = 1600  # pixels on the long side the detector sees
LOOK_SCALE = 0.7  # the first look's size, against the full pass's
MIN_SCORE = 0.75  # recognition confidence below which a line is dropped
ENGINE = "rapidocr-3 PP-OCRv6 small"  # stored with each reading: a new engine re-reads
_WORDY = re.compile(r"[^\W_]{2,}|\d")  # two letters in a row, or a digit


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float
    box: tuple[tuple[int, int], ...]  # the line's corners, in the upright photo's pixels

    def as_dict(self) -> dict:
        return {"text": self.text, "score": round(self.score, 3), "box": self.box}


_JOINED = re.compile(r"(?<=[^\W\d_]{2})(?=\d{2})|(?<=\d{2})(?=[^\W\d_]{2})"
                     r"|(?<=[^\W\d_]{2}[a-z])(?=[A-Z][A-Z]{2})")


def respace(text: str) -> str:
    """Put back the spaces the recogniser drops between narrowly spaced words: "RING4107" →
    "RING 4107", "seatSUNFLOWERS" → "seat SUNFLOWERS"; short mixes such as "MP3", "A4" or
    "iPhone" stay whole."""
    return _JOINED.sub(" ", text)


class OcrUnavailable(RuntimeError):
    """RapidOCR (or its ONNX Runtime) is not installed: the pass is skipped, said once."""


class TextReader:
    """RapidOCR set up for photos: no angle classifier (text upside down in a photo is rare and
    the classifier costs a pass per line), detection limited to ``MAX_SIDE``, the threads given
    by ``threads`` (the caller runs it at low priority)."""

    def __init__(self, threads: int | None = None):
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise OcrUnavailable("reading text in photos needs the rapidocr package "
                                 "(pip install rapidocr onnxruntime)") from exc
        threads = threads or max(1, min(4, os.cpu_count() or 1))
        self._ocr = RapidOCR(params={
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Global.max_side_len": MAX_SIDE,
            "Det.limit_type": "max",
            "Det.limit_side_len": MAX_SIDE,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        })

    def read_array(self, rgb: np.ndarray) -> list[TextLine]:
        """The lines of text in an RGB array (height × width × 3, uint8)."""
        if not self.may_hold_text(rgb):
            return []
        # RapidOCR takes BGR; its use_* switches stick between calls, so each call sets them.
        result = self._ocr(np.ascontiguousarray(rgb[:, :, ::-1]), use_det=True, use_cls=False,
                           use_rec=True)
        texts, scores, boxes = result.txts or (), result.scores or (), result.boxes
        lines = []
        for i, (text, score) in enumerate(zip(texts, scores)):
            text = respace(" ".join(text.split()))
            if score < MIN_SCORE or not _WORDY.search(text):
                continue
            box = tuple((int(x), int(y)) for x, y in boxes[i]) if boxes is not None else ()
            lines.append(TextLine(text, float(score), box))
        return lines

    def may_hold_text(self, rgb: np.ndarray) -> bool:
        """The first look: does the detector, at ``LOOK_SCALE`` of the full size, find any
        text box at all?"""
        height, width = rgb.shape[:2]
        size = (max(1, round(width * LOOK_SCALE)), max(1, round(height * LOOK_SCALE)))
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
        found = self._ocr(np.ascontiguousarray(small[:, :, ::-1]), use_det=True, use_cls=False,
                          use_rec=False)
        return found.boxes is not None and len(found.boxes) > 0

    def read_file(self, path: str | os.PathLike) -> list[TextLine]:
        """The lines of text in a photo file; PhotoError with the reason if it cannot be
        decoded."""
        image = open_photo(path, draft_size=MAX_SIDE)
        if max(image.size) > MAX_SIDE:
            image.thumbnail((MAX_SIDE, MAX_SIDE))
        if min(image.size) < 8:
            raise PhotoError(f"too small to hold readable text ({image.width}×{image.height})")
        return self.read_array(np.asarray(image))
