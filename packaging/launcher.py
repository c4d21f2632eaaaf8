"""Entry script of the packaged app (PyInstaller runs this file as ``__main__``).

``freeze_support`` must come first: photofind decodes photos in *spawned* processes, and in
a bundle each of them starts this same executable, which must then run the worker it was
started for instead of a second app.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from photofind.launch import main

    sys.exit(main())
