"""The main window's dialogs: settings, adapting, and a failure explained in words (a
missing model gets a way out: a local weights file).

A mixin of ``MainWindow`` (it uses the window's backend, options and status bar), kept apart
so the window module reads as search and results.
"""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtWidgets import QMessageBox

from photofind.embed.spec import ModelUnavailable
from photofind.gui.settings_dialog import SettingsDialog, ask_for_weights

MODEL_KEYS = ("model", "pretrained", "model_config")


class WindowDialogs:
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.options, self)
        if dialog.exec():
            self.apply_options(dialog.options())

    def apply_options(self, options: SimpleNamespace) -> None:
        """Save and switch to new options; a new model re-embeds every folder."""
        model_changed = any(getattr(options, k) != getattr(self.options, k) for k in MODEL_KEYS)
        self.settings.save_library_options(options)
        self.overrides = None
        if self.open_backend(options) and model_changed:
            self.backend.status(lambda status: self.add_paths([r["path"] for r in
                                                               status["roots"]]))

    def open_adapt(self) -> None:
        if self.adapt_dialog is not None and self.adapt_dialog.state == "running":
            self.adapt_dialog.raise_()
            return
        from photofind.gui.adapt_dialog import AdaptDialog  # torch: only when adapting

        dialog = AdaptDialog(self.backend, self.adapt_options, self)
        dialog.model_changed.connect(self.run_search)
        dialog.model_changed.connect(self.refresh_status)
        dialog.show()
        self.adapt_dialog = dialog

    def _problem(self, exc: Exception) -> None:
        """Explain a failure in words; a missing model gets a way out (a local file)."""
        if self.on_problem is not None:
            self.on_problem(exc)
            return
        if not isinstance(exc, ModelUnavailable):
            QMessageBox.warning(self, "photofind", str(exc))
            return
        self.say("The search model is not available: choose one in Settings…")
        if self._asking_for_model:
            return
        self._asking_for_model = True
        try:
            weights = ask_for_weights(self, str(exc))
        finally:
            self._asking_for_model = False
        if weights:
            self.apply_options(SimpleNamespace(**{**vars(self.options), "pretrained": weights}))

    def edit_texts(self) -> None:
        """Caption and tags of the selected photos (or the one shown): what they have now is
        fetched first, then the dialog opens; saving runs in the background."""
        hits = self.grid.selected_hits() or ([self.detail.hit] if self.detail.hit else [])
        if self.backend is None or not hits:
            self.say("Select one or more photos first (Ctrl+click or Shift+click for several).")
            return
        ids = [hit.photo.id for hit in hits]
        sidecars = bool(getattr(self.options, "write_sidecars", False))
        tags = self.filter_bar.tag_names()
        self.backend.editable_texts(ids, sidecars,
                                    lambda now: self._edit_dialog(ids, now, tags, sidecars),
                                    self._problem)

    def _edit_dialog(self, ids: list[int], current, tags: list[str], sidecars: bool) -> None:
        from photofind.gui.edit_dialog import EditTextsDialog

        dialog = self.edit_dialog = EditTextsDialog(current, tags, sidecars, self)
        dialog.accepted.connect(lambda: self._save_edit(ids, dialog.edit(), sidecars))
        dialog.open()  # window-modal, without a nested event loop

    def _save_edit(self, ids: list[int], edit, sidecars: bool) -> None:
        if self.backend is not None and edit.changes_something():
            self.backend.edit_texts(ids, edit, sidecars, self._edited, self._problem)

    def _edited(self, report) -> None:
        photos = f"{report.photos} photo{'s' * (report.photos != 1)}"
        message = f"Saved the caption and tags of {photos}."
        if report.problems:
            path, why = report.problems[0]
            message += f" {len(report.problems)} .xmp file(s) could not be written: {why}"
            QMessageBox.warning(self, "photofind", message)
        self.say(message)
        hit = self.detail.hit
        if hit is not None:  # show what was just written
            self.backend.describe(hit.photo, lambda info: self.detail.set_info(hit, info),
                                  lambda exc: self.detail.set_info(hit, None))
        self.refresh_status()  # new tags join the tag filter and the suggestions

    def open_status(self) -> None:
        """The library's status in a window (built from a fresh ``status``)."""
        from photofind.gui.status_dialog import StatusDialog

        def show(status: dict) -> None:
            self.status_dialog = StatusDialog(status, self.retry_unreadable, self)
            self.status_dialog.show()

        if self.backend is not None:
            self.backend.status(show)

    def retry_unreadable(self) -> None:
        """Index every folder again, reading the photos that failed even if unchanged."""
        roots = [root["path"] for root in self.roots if root["online"]]
        if roots:
            self.add_paths(roots, retry=True)
