"""Desktop app start-up on an existing library: launch → window visible → first answer.

    python3 benchmarks/bench_startup.py --data-dir D [--runs 5] [--query "a dog on a beach"]
    python3 benchmarks/bench_startup.py --data-dir D --index FOLDER --model M --pretrained W

Each run is a fresh process that enters the app the way ``photofind`` does
(``photofind.launch.main(["--data-dir", D])``: splash, window, the library opened, the model
loaded by the search thread). A timer inside it waits for the main window to be shown, then
types the query into the search box as a person would the moment the window appears, and
records when its results reach the window. Times are from just before the process was
started (the script's clock, passed in), so interpreter start-up and imports count. Qt draws
offscreen unless ``DISPLAY`` is set (e.g. under Xvfb). The user's settings are not touched: the
child gets a temporary ``XDG_CONFIG_HOME``.

``--index FOLDER`` first builds the library with the CLI (the model given by ``--model`` /
``--pretrained``), so the first run also pays no first-use export.

Prints JSON (every run and the medians) on stdout and a one-line table on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, os, sys, time
T0 = float(os.environ["BENCH_T0"])
QUERY = os.environ["BENCH_QUERY"]
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
marks = {}

def probe():
    from photofind.gui.window import MainWindow
    window = next((w for w in app.topLevelWidgets() if isinstance(w, MainWindow)), None)
    if window is None or not window.isVisible() or window.backend is None:
        QTimer.singleShot(5, probe)
        return
    marks["window_visible_s"] = time.time() - T0

    def answered(serial, hits):
        if serial == window.pending and "first_answer_s" not in marks:
            marks["first_answer_s"] = time.time() - T0
            marks["results"] = len(hits)
            app.quit()

    window.backend.answered.connect(answered)
    window.backend.search_failed.connect(lambda _s, exc: (marks.update(error=str(exc)),
                                                          app.quit()))
    window.search.setText(QUERY)
    window.run_search()

QTimer.singleShot(0, probe)
QTimer.singleShot(120_000, app.quit)
from photofind.launch import main
main(["--data-dir", os.environ["BENCH_DATA"]])
print(json.dumps(marks))
"""


def one_run(data_dir: str, query: str) -> dict:
    return app_run(CHILD, {"BENCH_DATA": data_dir, "BENCH_QUERY": query,
                           "XDG_CONFIG_HOME": tempfile.mkdtemp(prefix="bench-startup-config-")},
                   timeout=300)


def app_run(child: str, extra_env: dict, timeout: float) -> dict:
    """Run ``child`` (a script that enters the app and prints its marks as JSON) in a fresh
    process, offscreen unless DISPLAY is set, its clock starting just before the process."""
    env = {**os.environ, **extra_env}
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    env["BENCH_T0"] = repr(time.time())
    done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True,
                          text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"the app run failed (rc {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--query", default="a dog on a beach")
    parser.add_argument("--index", help="build the library from this folder first")
    parser.add_argument("--model")
    parser.add_argument("--pretrained")
    args = parser.parse_args()
    if args.index:
        model = (["--model", args.model] if args.model else []) + \
            (["--pretrained", args.pretrained] if args.pretrained else [])
        subprocess.run([sys.executable, "-m", "photofind", "--data-dir", args.data_dir,
                        *model, "index", args.index], check=True)
    runs = [one_run(args.data_dir, args.query) for _ in range(args.runs)]
    if any("error" in run for run in runs):
        raise SystemExit(f"a search failed: {runs}")
    medians = {key: round(statistics.median(run[key] for run in runs), 3)
               for key in ("window_visible_s", "first_answer_s")}
    print(json.dumps({"runs": runs, "median": medians, "query": args.query}, indent=2))
    print(f"| window visible (median of {len(runs)}) | first answer |\n|---|---|\n"
          f"| {medians['window_visible_s']} s | {medians['first_answer_s']} s |",
          file=sys.stderr)


if __name__ == "__main__":
    main()
