"""Settings (model, device, data folder) and the friendly "model unavailable" message."""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QWidget,
)

from photofind.embed.spec import DEFAULT_MODEL, DEFAULT_PRETRAINED
from photofind.gui.dialog_parts import confirm_buttons, quiet_note

WEIGHTS_FILTER = "Model weights (*.safetensors *.pt *.pth *.bin);;All files (*)"
SOURCES = ("open_clip model and weights tag (downloaded once)",
           "Local weights file for an open_clip model",
           "Custom model: config JSON and weights file")
TAG, LOCAL_FILE, CUSTOM = range(3)
DEVICES = ("auto", "cpu", "cuda", "mps")


def _file_row(edit: QLineEdit, pick) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    browse = QPushButton("Browse…")
    browse.clicked.connect(pick)
    layout.addWidget(browse)
    return row


class SettingsDialog(QDialog):
    """Edits the options ``Settings.library_options`` returns; ``options()`` reads them back."""

    def __init__(self, options: SimpleNamespace, parent=None):
        super().__init__(parent)
        self.setWindowTitle("photofind settings")
        self.setMinimumWidth(560)
        form = self.form = QFormLayout(self)
        self.source = QComboBox()
        self.source.addItems(SOURCES)
        self.name = QLineEdit(options.model or "", placeholderText=DEFAULT_MODEL)
        self.tag = QLineEdit("", placeholderText=DEFAULT_PRETRAINED)
        self.weights = QLineEdit("", placeholderText="/path/to/weights.safetensors")
        self.config = QLineEdit(options.model_config or "", placeholderText="/path/to/model.json")
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(options.device or "auto")
        self.data_dir = QLineEdit(options.data_dir or "",
                                  placeholderText="default: your user data folder")
        form.addRow("Model source:", self.source)
        form.addRow("Model name:", self.name)
        form.addRow("Weights tag:", self.tag)
        self.weights_row = _file_row(self.weights, self._pick_weights)
        self.config_row = _file_row(self.config, self._pick_config)
        form.addRow("Weights file:", self.weights_row)
        form.addRow("Model config:", self.config_row)
        form.addRow("Device:", self.device)
        form.addRow("Data folder:", _file_row(self.data_dir, self._pick_data_dir))
        self.read_text = QCheckBox("Read the text in photos (signs, screens, labels), when the "
                                   "computer is otherwise idle")
        self.read_text.setChecked(getattr(options, "read_text", True))
        form.addRow("Text:", self.read_text)
        self.write_sidecars = QCheckBox("Also write my captions and tags to a .xmp file beside "
                                        "each photo (digiKam, darktable and Lightroom read it)")
        self.write_sidecars.setChecked(getattr(options, "write_sidecars", False))
        form.addRow("Your tags:", self.write_sidecars)
        form.addRow(quiet_note(
            "Changing the model re-reads every photo once (the old vectors are kept until "
            "then). Nothing is written into your photo folders, except those .xmp files if "
            "you tick the box above; the photos themselves never."))
        form.addRow(confirm_buttons(self))
        pretrained = options.pretrained or ""
        is_file = "/" in pretrained or "\\" in pretrained or "." in pretrained
        (self.weights if is_file else self.tag).setText(pretrained)
        self.source.setCurrentIndex(CUSTOM if options.model_config else
                                    LOCAL_FILE if is_file else TAG)
        self.source.currentIndexChanged.connect(self._show_rows)
        self._show_rows(self.source.currentIndex())

    def _show_rows(self, source: int) -> None:
        self.form.setRowVisible(self.name, source != CUSTOM)
        self.form.setRowVisible(self.tag, source == TAG)
        self.form.setRowVisible(self.weights_row, source != TAG)
        self.form.setRowVisible(self.config_row, source == CUSTOM)

    def _pick_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model weights", "", WEIGHTS_FILTER)
        if path:
            self.weights.setText(path)

    def _pick_config(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "open_clip model config", "",
                                              "Model config (*.json)")
        if path:
            self.config.setText(path)

    def _pick_data_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data folder")
        if path:
            self.data_dir.setText(path)

    def options(self) -> SimpleNamespace:
        source = self.source.currentIndex()
        pretrained = (self.tag if source == TAG else self.weights).text().strip()
        return SimpleNamespace(
            model=(self.name.text().strip() or None) if source != CUSTOM else None,
            pretrained=pretrained or None,
            model_config=(self.config.text().strip() or None) if source == CUSTOM else None,
            device=self.device.currentText(),
            data_dir=self.data_dir.text().strip() or None, workers=None,
            read_text=self.read_text.isChecked(),
            write_sidecars=self.write_sidecars.isChecked())


def ask_for_weights(parent, message: str) -> str | None:
    """Explain that the model cannot be loaded and offer a local weights file instead.
    Returns the chosen file, or None if the person closed the message."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("The search model is not available")
    box.setText("photofind needs its image–text model to index and search photos, "
                "and cannot load it right now.")
    box.setInformativeText(f"{message}\n\nIf you have the weights as a file (for example "
                           "copied from another computer), choose it here.")
    choose = box.addButton("Choose weights file…", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    if box.clickedButton() is not choose:
        return None
    path, _ = QFileDialog.getOpenFileName(parent, "Model weights", "", WEIGHTS_FILTER)
    return path or None
