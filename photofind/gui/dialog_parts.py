"""Pieces every dialog of the app builds the same way."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel


def quiet_note(text: str) -> QLabel:
    """A wrapped grey line that explains, below what it is about."""
    note = QLabel(text, wordWrap=True)
    note.setEnabled(False)
    return note


def confirm_buttons(dialog: QDialog, main=QDialogButtonBox.StandardButton.Ok
                    ) -> QDialogButtonBox:
    """``main`` (OK, Save…) and Cancel, wired to the dialog's accept and reject."""
    buttons = QDialogButtonBox(main | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons
