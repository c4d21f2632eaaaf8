"""Nothing asks for the model before it is here.

When a library opens, the window first asks (in the background) whether the model's
weights must be downloaded. If so, the download dialog shows it, and until the model is
here, folders the person adds wait in a queue (shown as "waiting for the model…"), a typed
search waits too, and the watcher is not started. Once it is here, the queue is indexed
and the search runs. A folder whose indexing failed because the model could not load
joins the queue again, so choosing a weights file afterwards loses nothing.

A mixin of ``MainWindow``: it uses the window's backend, options, status bar and
``add_paths``.
"""

from __future__ import annotations

import os

from photofind.gui.settings import model_label

WAITING = "model needed"  # a folder's state while the model is not here


class ModelGate:
    model_state = "checking"  # checking, downloading, ready, missing
    queued_paths: list[str]
    search_waiting = False
    download_dialog = None
    _weights = None  # the HubWeights being downloaded

    def check_model(self) -> None:
        """Ask whether the model must be downloaded (a fresh library, a new model)."""
        self.model_state = "checking"
        backend = self.backend
        backend.weights_to_download(lambda where: self._model_checked(backend, where),
                                    lambda _exc: self._model_checked(backend, None))

    def _model_checked(self, backend, where) -> None:
        if backend is not self.backend:
            return  # the library changed meanwhile
        if where is None:  # here already; a model that cannot load says so when it loads
            self.model_arrived()
            return
        self._weights = where
        self.open_download()

    def open_download(self) -> None:
        from photofind.gui.model_download import ModelDownloadDialog

        if self.download_dialog is not None and self.download_dialog.isVisible():
            self.download_dialog.raise_()
            return
        self.model_state = "downloading"
        dialog = ModelDownloadDialog(self.backend, self._weights,
                                     model_label(self.backend.lib.model_spec), self)
        dialog.downloaded.connect(self.model_arrived)
        dialog.rejected.connect(self._download_left)
        dialog.choose_file.connect(self._choose_weights)
        self.download_dialog = dialog
        dialog.open()
        dialog.start()

    def model_arrived(self) -> None:
        """The model can load: index what waited, warm it up, run the search that waited."""
        self.model_state = "ready"
        queued, self.queued_paths = self.queued_paths, []
        if queued:
            self.add_paths(queued)
        if self.backend is not None:
            if self.photo_count:
                self.backend.warm_up()
            if not self.backend.live.starting:
                self.backend.live.start()  # the watcher indexes what changes: it needs it
        if self.search_waiting:
            self.search_waiting = False
            self.run_search()

    def _download_left(self) -> None:
        if self.model_state != "ready":
            self.model_state = "missing"
            self.say("photofind needs the model to index and search. Adding a folder asks "
                     "for it again; Settings… can name a weights file.")

    def _choose_weights(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        from photofind.gui.settings_dialog import WEIGHTS_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Model weights", "", WEIGHTS_FILTER)
        if path:
            self.use_weights_file(path)
        else:
            self._download_left()

    def waits_for_model(self, paths: list[str] = ()) -> bool:
        """True when the model is not here: ``paths`` are queued (and a download that was
        left is offered again)."""
        if self.model_state == "ready":
            return False
        for path in paths:
            if path not in self.queued_paths:
                self.queued_paths.append(path)
            if os.path.isdir(path):
                self.states[path] = WAITING
        if paths and self.model_state == "missing" and self._weights is not None:
            self.open_download()
        return True

    def requeue_after_failure(self, exc, targets: list[str]) -> None:
        """Indexing failed because the model could not load: its folders wait for it."""
        from photofind.embed.spec import ModelUnavailable

        if isinstance(exc, ModelUnavailable):
            self.model_state = "missing"
            self.queued_paths.extend(t for t in targets if t not in self.queued_paths)
