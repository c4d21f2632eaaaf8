"""Browsing a big library in the desktop app: first thumbnails, scrolling to the end, memory.

    python3 benchmarks/bench_browse.py --data-dir D [--runs 2]

``D`` is an indexed library (e.g. the 20,000 photos `bench_adapt_memory.py` builds under
`bench-results/adapt-memory/data-20000`). Each run is a fresh process that enters the app
as ``photofind --data-dir D`` does, in a 1280×800 window. A timer inside it waits for the window and its first
listing of all photos, then records when every thumbnail in view has been drawn (the first
run makes them from the photos; later runs read the thumbnail cache), then scrolls to the
end a page at a time as a person holding End would, until the grid holds every photo and
the last screenful has its thumbnails (a photo whose thumbnail cannot be made shows a
placeholder and counts as drawn). ``restarts`` counts the times the listing fell back to
fewer rows while scrolling (the app starting over). Times are from just before the process started;
peak RSS is the app process's. The user's settings are not touched (a temporary
``XDG_CONFIG_HOME``); Qt draws offscreen unless ``DISPLAY`` is set.

Prints JSON (every run) on stdout and a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from bench_startup import app_run

CHILD = r"""
import json, os, resource, sys, time
T0 = float(os.environ["BENCH_T0"])
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from photofind.gui.results import HIT_ROLE
marks = {}
state = {"window": None, "stage": "listing"}

def in_view(window):
    # rows whose cells touch the viewport: from the cell at its top-left corner on, in
    # order, until a cell starts below it (the grid lays rows out left to right, top down)
    grid, model = window.grid, window.model
    view = grid.viewport().rect()
    first = grid.indexAt(view.topLeft() + QPoint(grid.spacing() + 1, grid.spacing() + 1))
    rows = []
    for row in range(first.row() if first.isValid() else 0, model.rowCount()):
        rect = grid.visualRect(model.index(row))
        if rect.top() > view.bottom():
            break
        if view.intersects(rect):
            rows.append(model.index(row))
    return rows

def drawn(window):
    # every row in view has its thumbnail, or its thumbnail failed (a broken photo shows a
    # placeholder; it will never get one)
    rows = in_view(window)
    loader = window.model.thumbs
    for index in rows:
        if index.data(Qt.ItemDataRole.DecorationRole) is None:
            if loader.key(index.data(HIT_ROLE).photo) not in loader.failed:
                return False
    return bool(rows)

def step():
    from photofind.gui.window import MainWindow
    window = state["window"] or next((w for w in app.topLevelWidgets()
                                      if isinstance(w, MainWindow) and w.isVisible()), None)
    if window is None or window.backend is None:
        return QTimer.singleShot(5, step)
    if state["window"] is None:
        state["window"] = window
        window.resize(1280, 800)  # the size the issue names (and a common laptop's)
    marks.setdefault("window_visible_s", time.time() - T0)
    rows, total = window.model.rowCount(), window.photo_count
    if state["stage"] == "listing":
        if rows and total:
            marks["first_listing_s"] = time.time() - T0
            marks["photos"] = total
            state["stage"] = "thumbnails"
        elif not window.jobs and not rows and "asked" not in state:
            state["asked"] = True
            window.run_search()  # nothing typed: the listing of all photos
    elif state["stage"] == "thumbnails":
        if drawn(window):
            marks["first_thumbnails_s"] = time.time() - T0
            marks["scroll_started_s"] = time.time() - T0
            state["stage"] = "scrolling"
    elif state["stage"] == "scrolling":
        if rows < state.get("most", 0):
            marks["restarts"] = marks.get("restarts", 0) + 1
        state["most"] = max(rows, state.get("most", 0))
        window.grid.scrollToBottom()
        if rows >= total:
            state["stage"] = "last"
        elif not window.extending:  # at the end with a page arrived: on to the next
            window.grid.near_end.emit()
    elif state["stage"] == "last" and drawn(window):
        marks["to_the_end_s"] = time.time() - T0 - marks["scroll_started_s"]
        marks["rows_at_end"] = window.model.rowCount()
        marks.setdefault("restarts", 0)
        marks["thumbnails_failed"] = len(window.model.thumbs.failed)
        marks["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return app.quit()
    QTimer.singleShot(5, step)

QTimer.singleShot(0, step)
QTimer.singleShot(600_000, app.quit)
from photofind.launch import main
main(["--data-dir", os.environ["BENCH_DATA"]])
print(json.dumps(marks))
"""


def one_run(data_dir: str, config_home: str) -> dict:
    return app_run(CHILD, {"BENCH_DATA": data_dir, "XDG_CONFIG_HOME": config_home,
                           "HF_HUB_OFFLINE": "1"}, timeout=900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    config_home = tempfile.mkdtemp(prefix="bench-browse-config-")
    runs = [one_run(args.data_dir, config_home) for _ in range(args.runs)]
    print(json.dumps({"runs": runs}, indent=2))
    print("| run | photos | window s | first listing s | first thumbnails s | scroll to the "
          "end s | rows | restarts | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|",
          file=sys.stderr)
    for number, run in enumerate(runs, 1):
        print(f"| {number} | {run.get('photos')} | {run.get('window_visible_s', 0):.2f} | "
              f"{run.get('first_listing_s', 0):.2f} | {run.get('first_thumbnails_s', 0):.2f} | "
              f"{run.get('to_the_end_s', 0):.1f} | {run.get('rows_at_end')} | {run.get('restarts')} | "
              f"{run.get('peak_rss_mb')} |", file=sys.stderr)


if __name__ == "__main__":
    main()
