"""The main window's folders: adding them (toolbar, sidebar, drag and drop), the indexing
queue they wait in, and the watcher that keeps them current while the app runs.

A mixin of ``MainWindow`` (it uses the window's widgets and backend), kept apart so the
window module reads as search and results only.
"""

from __future__ import annotations

import os

from PySide6.QtWidgets import QFileDialog, QMessageBox

from photofind.gui.live import brief, changed_anything


class FolderJobs:
    # -- indexing -------------------------------------------------------------------------
    def add_paths(self, paths: list[str], retry: bool = False) -> None:
        """Index folders (and single photos) now, in the background, in the order given
        (``retry``: unreadable photos are read again even if unchanged)."""
        paths = [os.path.abspath(p) for p in paths if os.path.exists(p)]
        if not paths or self.backend is None:  # nothing, or the window is closing
            return
        if self.waits_for_model(paths):  # indexed when it is here
            self._show_folders()
            self._update_empty_text()
            return
        for path in paths:
            if os.path.isdir(path):
                self.states[path] = "waiting…"
        self.jobs += 1
        if self.jobs == 1:
            self.progress.preparing("Waiting…")
        self.backend.index(paths, retry)
        self._show_folders()
        self._update_empty_text()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos")
        if folder:
            self.add_paths([folder])

    def rescan_all(self) -> None:
        self.add_paths([root["path"] for root in self.roots])

    def forget_chosen_folder(self) -> None:
        """Library › Remove folder…: the folder chosen in the sidebar or the filter."""
        roots = [root["path"] for root in self.roots]
        if self.folder in roots:
            self.remove_folder(self.folder)
        else:
            QMessageBox.information(self, "photofind", "Choose one of your folders on the left "
                                    "first (subfolders go with the folder they are in).")

    def remove_folder(self, path: str) -> None:
        answer = QMessageBox.question(
            self, "Remove folder", f"Remove {path} from photofind?\n\nYour photos stay where "
            "they are; only photofind's index of them is removed.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        if path in self.states:
            self.backend.cancel_indexing()
        self.states[path] = "removing…"
        self.backend.forget(path)

    def _index_started(self, targets: list) -> None:
        for path in targets:
            if path in self.states:
                self.states[path] = "indexing…"
        self.progress.preparing("Preparing: loading the model and looking for photos…")
        self.refresh_status()

    def _index_finished(self, report, targets: list) -> None:
        self._job_done(targets)
        if report is not None:
            self.last_report = report
            changed = changed_anything(report) or report.cancelled
            self.say(f"Indexed: {brief(report)}." if changed else
                     f"Up to date: {report.unchanged:,} photos checked, nothing changed.")
        self.refresh_results()

    def _text_progress(self, done: int, total: int) -> None:
        self.reading.setText(f"Reading text in photos: {done:,} of {total:,}")
        self.reading.setToolTip("Signs, screens and labels in your photos become searchable "
                                "(put words in quotes to ask for them). This runs when the "
                                "computer is otherwise idle.")
        self.reading.show()

    def _text_finished(self, report) -> None:
        self.reading.hide()
        if report is not None and report.with_text:
            self.say(f"Text found in {report.with_text:,} of {report.read:,} photos read.")
            self.refresh_status()
            if self.search.text().strip():
                self.refresh_results()

    def _index_failed(self, exc, targets: list) -> None:
        self._job_done(targets)
        self.requeue_after_failure(exc, targets)
        self._problem(exc)

    def _job_done(self, targets: list) -> None:
        self.jobs = max(0, self.jobs - 1)
        for path in targets:
            self.states.pop(path, None)
        if self.jobs == 0:
            self.progress.finish()
            self.states.clear()  # e.g. "removing…" entries
        self.refresh_status()

    def _library_changed(self) -> None:
        self.refresh_status()
        if self._query().browsing:
            self.refresh_results()

    def _show_folders(self) -> None:
        self.sidebar.set_folders(self.photo_count, self.roots, self.states, self.live_states)

    # -- the live library ---------------------------------------------------------------------
    def _live_started(self) -> None:
        """Watching; now catch up with what changed while the app was closed (unless the
        window closed meanwhile: the watcher's signal can arrive after that)."""
        if self.backend is None:
            return
        self.live_timer.start()
        self._poll_live()
        roots = [root["path"] for root in self.roots if root["online"]]
        if roots:
            self.add_paths(roots)

    def _poll_live(self) -> None:
        states = self.backend.live.states() if self.backend is not None else {}
        if states != self.live_states:
            self.live_states = states
            self._show_folders()

    def _live_changed(self, report) -> None:
        """Files changed on disk and the watcher indexed them: show it without being asked."""
        if changed_anything(report):
            self.say(f"Updated from disk: {brief(report)}.")
            self.refresh_status()
            self.refresh_results()
            self.backend.read_texts()

    # -- drag and drop --------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.grid.set_drop_hint(True)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self.grid.set_drop_hint(False)

    def dropEvent(self, event) -> None:  # noqa: N802
        self.grid.set_drop_hint(False)
        paths = _local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)


def _local_paths(mime) -> list[str]:
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()] \
        if mime.hasUrls() else []
