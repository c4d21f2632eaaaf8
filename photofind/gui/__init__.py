"""The desktop app: the only package that imports Qt.

Threads: the UI thread only paints and routes signals. Indexing runs in one ``QThread``,
searching (and model loading) in another, thumbnails and small look-ups in a ``QThreadPool``;
see ``photofind.gui.backend`` and ``photofind.gui.thumbs``.
"""

from photofind.gui import qtfix

qtfix.install()
