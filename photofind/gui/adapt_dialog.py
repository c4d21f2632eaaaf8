""""Adapt to my library": teach the model the person's own captions and tags.

The training lives in ``photofind.services.adapting``; this dialog counts what it can learn from,
runs ``adapt`` in a ``QThread`` (holding the backend's write lock, so indexing waits instead of
adding photos the re-embedding would miss), shows progress with Cancel, and ends with the
before/after numbers, the re-ranker and the personal concepts learned. The concepts in use are
listed in words, each with a checkbox, so the person can stop using one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photofind.adapt.data import NotEnoughData
from photofind.adapt.judging import MIN_QUERIES_FOR_RECALL
from photofind.adapt.report import AdaptProgress, AdaptResult
from photofind.gui.progress import duration
from photofind.gui.tasks import run_task
from photofind.search.rerank import weights_text
from photofind.services.adapting import (
    RERANK_BUDGET_S,
    adapt,
    budgets,
    concepts,
    drop_concepts,
    reranker_judgeable,
    reset,
    usable,
)
from photofind.services.jobs import CancelToken

PHASES = {"caching": "Preparing your photos", "baseline": "Measuring the plain model",
          "training": "Training", "validating": "Checking on set-aside photos",
          "re-embedding": "Re-embedding your photos", "reranker": "Teaching the re-ranker"}
# Each phase's share of a whole run, in run order: one bar that never goes back. Training is
# checked on set-aside photos after every round, so "validating" is folded into it.
SHARES = (("caching", 0.2), ("baseline", 0.05), ("training", 0.45), ("re-embedding", 0.2),
          ("reranker", 0.1))
PER_VARIANT = ("caching", "baseline", "training")  # run once for each variant compared
BAR_STEPS = 1000
METRICS = (("R@1", "Set-aside captions and tags whose photo came first"),
           ("R@5", "… whose photo was among the first 5 results"),
           ("R@10", "… among the first 10 results"),
           ("mAP", "Mean average precision: how high all the right photos rank"))
PROGRESS_EVERY_S = 0.1
WIDTH = 560


@dataclass
class Outcome:
    """What a run left behind, read in the worker thread (the model may load there)."""

    result: AdaptResult
    cancelled: bool
    model_changed: bool
    concepts: list[dict]
    seconds: float = 0.0  # the whole run, every variant and the re-ranker included


def adaptation_state(lib, seed: int = 0) -> dict:
    """Counts of usable photos, the model in use, and whether a run would teach the
    re-ranker (loads the model: call off the UI)."""
    adaptation = lib.embedder.adaptation
    reranker = lib.reranker
    return {"counts": usable(lib), "variant": adaptation.config.variant if adaptation else None,
            "reranker": bool(reranker and reranker.active), "concepts": concepts(lib),
            "reranker_judgeable": reranker_judgeable(lib, seed)}


class AdaptWorker(QObject):
    progress = Signal(object)  # AdaptProgress
    finished = Signal(object)  # Outcome
    failed = Signal(object)  # exception

    def __init__(self, backend, options: dict):
        super().__init__()
        self.backend, self.options, self.token = backend, options, CancelToken()
        self._last = (None, 0.0)

    @Slot()
    def run(self) -> None:
        lib = self.backend.lib
        try:
            with self.backend.write_lock:
                key, started = lib.model_key, time.monotonic()
                result = adapt(lib, progress=self._progress, cancel=self.token, **self.options)
                outcome = Outcome(result, self.token.cancelled or result.cancelled,
                                  lib.model_key != key, concepts(lib),
                                  time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog
            self.failed.emit(exc)
        else:
            self.finished.emit(outcome)

    def _progress(self, report: AdaptProgress) -> None:
        """At most every 0.1 s within a phase: a signal per step would flood the UI."""
        phase, last = self._last
        now = time.monotonic()
        if report.phase != phase or now - last >= PROGRESS_EVERY_S:
            self._last = (report.phase, now)
            self.progress.emit(report)


class AdaptDialog(QDialog):
    """Counts usable photos, runs adaptation with progress and Cancel, reports the outcome.
    ``options`` go to ``adapt`` as they are (``variants``, ``seed``, ``rerank``)."""

    model_changed = Signal()

    def __init__(self, backend, options: dict | None = None, parent=None):
        super().__init__(parent)
        self.backend, self.options = backend, dict(options or {})
        self.setWindowTitle("Adapt to my library")
        self.state = "counting"  # ready, running, done, cancelled, failed
        self.looked: dict = {}  # what adaptation_state found
        self.runner: QThread | None = None
        self.worker: AdaptWorker | None = None
        self.detailed: list[QWidget] = []  # the result's numbers, behind "Details"
        self.started_at = self.moved_at = 0.0
        self.ticker = QTimer(self, interval=1000)  # the time left counts down between reports
        self.ticker.timeout.connect(self._show_time_left)
        self.phase_name = ""
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        self.intro = _label("Counting photos with your captions and tags…")
        self.current = _label("")
        self.phase = _label("")
        self.bar = QProgressBar()
        self.detail = _label("")
        self.result = _label("")
        self.words = ConceptList()
        self.words.stop.connect(self.stop_using)
        self.details = QToolButton(text="Details", checkable=True)  # the numbers, on demand
        self.details.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details.setArrowType(Qt.ArrowType.RightArrow)
        self.details.toggled.connect(self._show_details)
        self.metrics = QWidget()
        self.rerank = _label("")
        self.concepts = QWidget()
        buttons = QDialogButtonBox()
        self.start = QPushButton("Start", enabled=False, default=True)
        self.cancel = QPushButton("Cancel")
        self.zero_shot = QPushButton("Go back to the plain model", enabled=False)
        self.zero_shot.setToolTip("Forget what was learned and search as before adapting")
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        for button in (self.start, self.cancel, self.zero_shot):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        for widget in (self.intro, self.current, self.phase, self.bar, self.detail, self.result,
                       self.words, self.details, self.metrics, self.rerank, self.concepts):
            layout.addWidget(widget)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.setMinimumWidth(WIDTH)
        self.start.clicked.connect(self.run)
        self.cancel.clicked.connect(self.stop)
        self.zero_shot.clicked.connect(self.go_back)
        self.close_button.clicked.connect(self.close)
        self._show_running(False)
        for widget in (self.result, self.words, self.details, self.metrics, self.rerank,
                       self.concepts):
            widget.hide()
        self._fit()
        self._look()

    # -- before ----------------------------------------------------------------------------
    def _look(self) -> None:
        """Count usable photos and see which model is in use (in the background)."""
        seed = self.options.get("seed", 0)
        run_task(self.backend.pool, self, lambda: adaptation_state(self.backend.lib, seed),
                 self._counted,
                 lambda exc: self._say_intro(f"Could not look at your library: {exc}"))

    def _counted(self, state: dict) -> None:
        self.looked = state
        counts = state["counts"]
        enough = counts["usable"] >= counts["needed"]
        self._say_intro(counts_text(counts) + (
            " photofind learns your words from them (a small set of numbers beside the "
            "model, which itself stays as it is), checks the result on photos it sets aside, "
            "and keeps it "
            "only if it finds those better than before." if enough else
            " Add captions or tags to more photos (in your photo manager, or with photofind "
            "import-captions), then try again."))
        self.current.setText(current_text(state))
        self.start.setEnabled(enough)
        self.zero_shot.setEnabled(bool(state["variant"] or state["reranker"]))
        if self.state == "counting":
            self.state = "ready"
        if self.state != "running":
            self.words.show_concepts(state["concepts"])
        self._fit()

    def _say_intro(self, text: str) -> None:
        self.intro.setText(text)
        self._fit()

    # -- running ---------------------------------------------------------------------------
    def run(self) -> None:
        self.state = "running"
        self.worker = AdaptWorker(self.backend, self.options)
        self.runner = QThread(self)
        self.worker.moveToThread(self.runner)
        self.runner.started.connect(self.worker.run)
        self.worker.progress.connect(self._progress)
        self.worker.finished.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.runner.finished.connect(self.worker.deleteLater)
        self.words.say("")
        for widget in (self.result, self.words, self.details, self.metrics, self.rerank,
                       self.concepts):
            widget.hide()
        self._show_running(True)
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setValue(0)
        self.started_at = self.moved_at = time.monotonic()
        # the run's time budgets; the re-ranker's only where it will be taught (too few
        # set-aside texts to judge it: the run ends without it, 90 s sooner on a CPU)
        rerank = self.options.get("rerank", True) and \
            self.looked.get("reranker_judgeable", True)
        found = budgets(self.options.get("variants"), rerank,
                        self.options.get("rerank_budget_s", RERANK_BUDGET_S))
        self.budgets = None if None in found else \
            (found[:-1], found[-1]) if rerank else (found, None)
        self.planned_s = None if None in found else float(sum(found))
        self.phase_name = ""
        self.ticker.start()
        self.phase.setText("Starting… (waits for indexing in progress)")
        self.detail.clear()
        self._fit()
        self.runner.start()

    def stop(self) -> None:
        if self.state == "running":
            self.worker.token.cancel()
            self.phase.setText("Cancelling…")

    def _progress(self, report: AdaptProgress) -> None:
        if self.worker.token.cancelled:
            return
        fraction = overall(report, self.budgets)
        now = time.monotonic()
        if not self.phase_name:  # the clock starts with the run, not with the wait before it
            self.started_at = now
        self.bar.setValue(max(self.bar.value(), round(BAR_STEPS * fraction)))  # never back
        self.moved_at = now  # silence is counted from the last report
        self.phase_name = PHASES.get(report.phase, report.phase.capitalize())
        self._show_time_left()
        self.detail.setText(progress_text(report))
        self.detail.setToolTip(progress_tip(report))

    def _show_time_left(self) -> None:
        """The phase and the time left; every second too, as stages such as the
        re-ranker's choice of weights report nothing for half a minute."""
        if self.state != "running" or not self.phase_name or self.worker.token.cancelled:
            return
        now = time.monotonic()
        left = time_left(self.bar.value() / BAR_STEPS, now - self.started_at, self.planned_s,
                         now - self.moved_at)
        self.phase.setText(" · ".join(filter(None, [self.phase_name, left])))

    def _finished(self, outcome: Outcome) -> None:
        self._end("cancelled" if outcome.cancelled else "done")
        self.result.setText(outcome_text(outcome))
        self.result.show()
        self.detailed = []  # what "Details" shows
        if not outcome.cancelled:
            result = outcome.result
            _fill(self.metrics, metric_rows(result))
            self.rerank.setText(rerank_text(result.rerank))
            self.detailed += [self.metrics, self.rerank]
        if outcome.concepts:
            _fill(self.concepts, concept_rows(outcome.concepts))
        elif outcome.result.kept:
            _fill(self.concepts, [["Personal concepts: none learned (a tag needs a few photos "
                                   "that the model does not already recognise)."]])
        if outcome.concepts or outcome.result.kept:
            self.detailed.append(self.concepts)
        self.words.show_concepts(outcome.concepts)
        self.details.setVisible(bool(self.detailed))
        self._show_details(self.details.isChecked())
        if outcome.model_changed:
            self.zero_shot.setEnabled(True)  # at once: _look() answers later
            self._look()
            self.model_changed.emit()

    def _failed(self, exc: Exception) -> None:
        self._look()  # the concepts in use, listed again
        if self.worker.token.cancelled:  # the cancel landed as an error in some stage
            self._end("cancelled")
            self._show_result("Cancelled — nothing changed.")
            return
        self._end("failed")
        self.result.setText(str(exc) if isinstance(exc, NotEnoughData | ValueError) else
                            f"Adapting stopped with a problem: {exc}")
        self.result.show()
        self._fit()

    def _end(self, state: str) -> None:
        self.state = state
        self.ticker.stop()
        self.runner.quit()
        self.runner.wait()
        self._show_running(False)
        self.start.setText("Run again")

    def _show_running(self, running: bool) -> None:
        for widget in (self.phase, self.bar, self.detail, self.cancel):
            widget.setVisible(running)
        for widget in (self.start, self.zero_shot, self.close_button):
            widget.setVisible(not running)

    # -- going back --------------------------------------------------------------------------
    def go_back(self) -> None:
        self.zero_shot.setEnabled(False)
        run_task(self.backend.pool, self, self._reset, self._reset_done,
                 lambda exc: self._show_result(f"Could not go back: {exc}"))

    def _reset(self) -> None:
        with self.backend.write_lock:
            reset(self.backend.lib)

    def _reset_done(self, _result) -> None:
        self.detailed = []
        self.words.say("")
        for widget in (self.words, self.details, self.metrics, self.rerank, self.concepts):
            widget.hide()
        self._look()
        self._show_result("Back to the plain model: your photos are searched as before "
                          "adapting.")
        self.model_changed.emit()

    # -- personal concepts -----------------------------------------------------------------
    def stop_using(self, keys: list[str]) -> None:
        """Drop the unticked concepts in the background (the model may have to load, and the
        adaptation file is rewritten under the write lock)."""
        self.words.busy(True)
        run_task(self.backend.pool, self, lambda: self._drop(keys), self._dropped,
                 self._drop_failed)

    def _drop(self, keys: list[str]) -> tuple[list[str], list[dict]]:
        with self.backend.write_lock:
            lib = self.backend.lib
            return drop_concepts(lib, keys), concepts(lib)

    def _dropped(self, answer: tuple[list[str], list[dict]]) -> None:
        names, left = answer
        self.words.busy(False)
        self.words.show_concepts(left)
        self.words.say(f"Stopped using: {', '.join(names)}." if names else
                       "Nothing changed: those words were no longer in use.")
        if self.concepts in self.detailed:
            _fill(self.concepts, concept_rows(left) if left else
                  [["Personal concepts: none in use."]])
        self._fit()
        self._look()  # what searches use now, and whether there is anything to go back from
        if names:
            self.model_changed.emit()

    def _drop_failed(self, exc: Exception) -> None:
        self.words.busy(False)
        self.words.say(f"Could not stop using them: {exc}")
        self._fit()

    def _show_details(self, shown: bool) -> None:
        self.details.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        for widget in (self.metrics, self.rerank, self.concepts):
            widget.setVisible(shown and widget in self.detailed)
        self._fit()

    def _show_result(self, text: str) -> None:
        self.result.setText(text)
        self.result.show()
        self._fit()

    # -- size ------------------------------------------------------------------------------
    def _fit(self) -> None:
        """Grow to fit the texts: wrapped labels know their height only for a width, which a
        top-level window's size hint ignores (that is what clipped the texts before). A dialog
        that grew past the bottom of the screen moves up: its buttons must stay in reach."""
        layout = self.layout()
        layout.activate()
        width = max(self.width(), WIDTH)
        height = max(layout.totalHeightForWidth(width), layout.totalMinimumSize().height())
        self.setMinimumHeight(height)
        self.resize(width, height)
        screen = self.screen().availableGeometry()
        frame = self.frameGeometry()
        if self.isVisible() and frame.bottom() > screen.bottom():  # grown past the screen
            self.move(self.x(), max(screen.top(), self.y() - (frame.bottom() - screen.bottom())))

    def closeEvent(self, event) -> None:  # noqa: N802
        self.stop()
        if self.runner is not None:
            self.runner.quit()
            self.runner.wait()
        super().closeEvent(event)


# -- words and numbers (plain functions: no widgets) -------------------------------------------
def counts_text(counts: dict) -> str:
    """"412 captioned and 96 tagged photos; at least 40 needed." """
    return (f"{counts['captioned']:,} captioned and {counts['tagged']:,} tagged photos; "
            f"at least {counts['needed']:,} needed.")


def current_text(state: dict) -> str:
    """What searches use now, in words (the variant's name is in the Details)."""
    reranked = " and a re-ranker" if state["reranker"] else ""
    if state["variant"]:
        return f"Searches now use what photofind learned from your captions and tags{reranked}."
    return f"Searches now use the plain model{reranked.replace(' and', ' with')}."


def progress_text(report: AdaptProgress) -> str:
    """Where inside the phase the run is, in words ("round 2 of 10"); the time left is the
    whole run's, shown beside the phase."""
    if report.epochs:  # round 0: a stage has begun before its first round (the re-ranker)
        return f"round {report.epoch} of {report.epochs}" if report.epoch else "getting ready"
    if report.steps:
        return f"{report.step:,} of {report.steps:,}"
    return ""


def progress_tip(report: AdaptProgress) -> str:
    """The numbers behind it, for whoever points at the line."""
    parts = [f"epoch {report.epoch} of {report.epochs}"] if report.epochs else []
    parts += [f"step {report.step:,} of {report.steps:,}"] if report.steps else []
    parts += [f"loss {report.loss:.4f}"] if report.loss is not None else []
    return " · ".join(parts)


def outcome_text(outcome: Outcome) -> str:
    """The result in one sentence, with the one number a person can read: for every 100 set-aside
    captions or tags, for how many the right photo came first, before and after."""
    result = outcome.result
    if outcome.cancelled:
        return ("Stopped: searches use what was learned, without the re-ranker."
                if outcome.model_changed else "Cancelled — nothing changed.")
    before, after = result.before.get("R@1"), result.after.get("R@1")
    if before is None or after is None:
        return ("Search for your own words got better; what was learned now shapes every "
                "search." if result.kept else
                "No clear gain this time — your search is unchanged.")
    aside = "for every 100 of your captions and tags set aside"
    if result.kept:
        return (f"Search for your own words got better: {aside}, the right photo now comes "
                f"first for {after:.0f}, up from {before:.0f}. It took "
                f"{duration(outcome.seconds or result.seconds)}; what was learned now shapes "
                f"every search.")
    return (f"No clear gain this time — your search is unchanged ({aside}, the right photo "
            f"came first for {before:.0f} before and {after:.0f} after learning).")


def overall(report: AdaptProgress, budgets: tuple[list, float | None] | None = None) -> float:
    """How far the whole run is, 0-1, from the phase and the progress inside it. Each
    variant prepares, measures and trains in turn: those phases' shares are split among
    them, so the bar does not reach the end of training with the first (cheap) variant.
    With ``budgets`` (each variant's time budget, and the re-ranker's or None when it does
    not run) the variants and the re-ranker get the bar in proportion to their budgets, by
    which a run on a CPU ends: by fixed shares it stood at 10 % after 8 s of a 270 s run
    (nothing to cache), and at 93 % when the re-ranker's 90 s began."""
    phase = "training" if report.phase == "validating" else report.phase
    start = 0.0
    for name, share in SHARES:
        if name == phase:
            done = start + share * min(1.0, _within(report))
            break
        start += share
    else:
        return start
    per_variant = sum(share for name, share in SHARES if name in PER_VARIANT)
    if budgets is not None and None not in budgets[0]:
        return _by_budget(phase, report, done / per_variant, *budgets)
    if phase not in PER_VARIANT or report.parts <= 1:
        return done
    return per_variant * (report.part + done / per_variant) / report.parts


def _by_budget(phase: str, report: AdaptProgress, within_variant: float,
               variants: list[float], rerank: float | None) -> float:
    """``overall`` with each variant and the re-ranker as long as its time budget. (The
    re-ranker's and re-embedding's reports come after every variant, whatever their part.)"""
    total = (sum(variants) + (rerank or 0.0)) or 1.0
    if phase in PER_VARIANT:
        part = min(report.part, len(variants) - 1)
        return (sum(variants[:part]) + variants[part] * min(1.0, within_variant)) / total
    if phase == "reranker" and rerank:
        return (sum(variants) + rerank * min(1.0, _within(report))) / total
    return sum(variants) / total  # re-embedding: on top of the budgets


def _within(report: AdaptProgress) -> float:
    """How far inside its phase: steps are counted per epoch when there are epochs."""
    if report.epochs:
        inside = report.step / report.steps if report.steps else 1.0
        return (report.epoch - 1 + inside) / report.epochs
    return report.step / report.steps if report.steps else 0.0


def time_left(fraction: float, elapsed_s: float, planned_s: float | None = None,
              still_s: float = 0.0) -> str:
    """"about 4 min left". A run ends by its time budgets (``planned_s``, their sum) and
    the bar follows them, so what the budgets of the stages not yet done leave is the time
    left (less when a stage stops early: validation stalled, or a GPU), less the seconds
    since the last report (``still_s``: a stage that reports nothing for a while). The
    pace so far misled: a variant that stops early moves the bar ahead of the clock, and at
    54 s of a 191 s run it said "about 1 min". Past the budgets (re-embedding) or without
    them, the pace speaks once a fifth is done."""
    if fraction >= 1:
        return ""
    if planned_s is not None and elapsed_s < planned_s:
        left = min(planned_s - elapsed_s, max(5.0, planned_s * (1 - fraction) - still_s))
        return f"about {duration(left)} left"
    if fraction >= 0.2:
        return f"about {duration(elapsed_s * (1 - fraction) / fraction)} left"
    return ""


def metric_rows(result: AdaptResult) -> list[list[str]]:
    """Header + one row per metric: before, after, change (percentages)."""
    queries = result.after.get("queries") or result.before.get("queries") or 0
    rows = [[f"On {queries} set-aside queries", "plain model", result.variant, "change"]]
    for key, _ in METRICS:
        before, after = result.before.get(key), result.after.get(key)
        if before is None or after is None:
            continue
        rows.append([key, f"{before:.1f}", f"{after:.1f}", f"{after - before:+.1f}"])
    return rows


def rerank_text(rerank: dict | None) -> str:
    if rerank is None:
        return "Re-ranker: not trained this time."
    if "before" not in rerank:
        return "Re-ranker: not available for this model's image tower."
    change = f"R@1 on set-aside photos {rerank['before']['R@1']:.1f} → " \
             f"{rerank['after']['R@1']:.1f}"
    if rerank["kept"]:
        return f"Re-ranker: on ({weights_text(rerank)}), {change}."
    if rerank.get("too_few"):
        return (f"Re-ranker: off, {rerank['held_back']} set-aside captions or tags are too "
                f"few to check it on (it needs {2 * MIN_QUERIES_FOR_RECALL}).")
    return f"Re-ranker: off, it did not help ({change})."


def concept_rows(found: list[dict]) -> list[list[str]]:
    """Header + one row per personal concept: AP with the plain model and after learning."""
    rows = [["Personal concept", "photos", "AP before", "AP after"]]
    for row in found:
        after = max(row["ap_token"] or 0, row["ap_prototype"] or 0)
        rows.append([row["name"], str(row["photos"]), _number(row["ap_zero_shot"]),
                     _number(after)])
    return rows


def _number(value) -> str:
    return "–" if value is None else f"{value:.1f}"


# How well a tag's photos were found, in words: its validation AP (0-100) at or above each
# bound. A concept is only learned below ``AdaptConfig.concept_max_ap`` (50).
FOUND = ((75, "found well"), (50, "found fairly well"), (25, "found poorly"),
         (0, "hardly found"))


def found_text(ap: float | None) -> str:
    """"hardly found" … "found well"; "not measured" when no set-aside photo had the tag."""
    if ap is None:
        return "not measured"
    return next(words for bound, words in FOUND if ap >= bound)


def concept_text(row: dict) -> str:
    """"Biscuit — learned from 12 photos; before: hardly found, now: found well" (the
    numbers are under Details; the photos are those it trained on, not the set-aside ones)."""
    after = max(row["ap_token"] or 0, row["ap_prototype"] or 0) \
        if row["ap_token"] is not None or row["ap_prototype"] is not None else None
    photos = f"{row['photos']:,} photo{'s' if row['photos'] != 1 else ''}"
    return (f"{row['name']} — learned from {photos}; before: {found_text(row['ap_zero_shot'])}, "
            f"now: {found_text(after)}")


# -- widgets -----------------------------------------------------------------------------------
class ConceptList(QWidget):
    """The personal concepts in use, one checkbox each (ticked: in use). Unticking only marks
    a word; "Stop using" drops the marked ones. Dropping is for good, so a stray click must
    not throw away what a run learned, and several words go in one rewrite of the file."""

    stop = Signal(list)  # the unticked concepts' keys

    def __init__(self):
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = _label("<b>Words learned for your tags</b>")
        self.why = _label("Only tags the plain model did not already find well are listed: "
                          "tags it finds well need no word of their own. Untick a word to "
                          "search for that tag as before.")
        self.boxes = QWidget()
        QVBoxLayout(self.boxes).setContentsMargins(0, 0, 0, 0)
        self.apply = QPushButton("Stop using the unticked", enabled=False)
        self.apply.setToolTip("Searches read those names as ordinary words again; "
                              "nothing else changes")
        self.apply.clicked.connect(lambda: self.stop.emit(self.unticked()))
        self.note = _label("")
        self.note.hide()
        self.dropping = False
        row = QGridLayout()
        row.addWidget(self.apply, 0, 0, Qt.AlignmentFlag.AlignLeft)
        for widget in (self.title, self.why, self.boxes):
            layout.addWidget(widget)
        layout.addLayout(row)
        layout.addWidget(self.note)
        self.checks: dict[str, QCheckBox] = {}

    def show_concepts(self, found: list[dict]) -> None:
        """Show these concepts, all ticked; the whole list hides when there are none, but
        a note about what was just stopped stays readable."""
        box = self.boxes.layout()
        for check in self.checks.values():  # hidden now: deleted only once Qt gets to it
            box.removeWidget(check)
            check.hide()
            check.deleteLater()
        self.checks = {}
        for row in found:
            check = QCheckBox(concept_text(row), checked=True, enabled=not self.dropping)
            check.toggled.connect(self._changed)
            box.addWidget(check)
            self.checks[row["key"]] = check
        for widget in (self.title, self.why, self.boxes, self.apply):
            widget.setVisible(bool(found))
        self._changed()
        self.setVisible(bool(found) or bool(self.note.text()))

    def unticked(self) -> list[str]:
        return [key for key, check in self.checks.items() if not check.isChecked()]

    def busy(self, busy: bool) -> None:
        self.dropping = busy
        for widget in (self.apply, *self.checks.values()):
            widget.setEnabled(not busy)
        if busy:
            self.say("Stopping…")
        else:
            self._changed()

    def say(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))
        self.setVisible(bool(text) or bool(self.checks))

    def _changed(self, *_) -> None:
        self.apply.setEnabled(bool(self.unticked()) and not self.dropping)


def _label(text: str) -> QLabel:
    label = QLabel(text, wordWrap=True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _fill(box: QWidget, rows: list[list[str]]) -> None:
    """Lay ``rows`` out as a small table in ``box``: first row bold, numbers right-aligned."""
    if box.layout() is None:
        QGridLayout(box).setContentsMargins(0, 0, 0, 0)
    grid: QGridLayout = box.layout()
    while grid.count():
        old = grid.takeAt(0).widget()
        old.hide()
        old.deleteLater()
    tips = dict(METRICS)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            cell = QLabel(text, wordWrap=len(row) == 1)
            if r == 0 and len(rows) > 1:  # a header
                font = cell.font()
                font.setBold(True)
                cell.setFont(font)
            if c:
                cell.setAlignment(Qt.AlignmentFlag.AlignRight)
            cell.setToolTip(tips.get(row[0], ""))
            grid.addWidget(cell, r, c)
    grid.setColumnStretch(0, 1)
