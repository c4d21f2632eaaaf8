"""'Adapt to my library': prompt tuning on the frozen model (no Qt here; the GUI wires it to a
QThread). Entry points: ``photofind.adapt.library.adapt``, ``reset``, ``usable``."""
