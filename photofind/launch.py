"""The ``photofind`` program: a command runs in the command line (``photofind.cli``); no
command, ``gui`` or ``--self-test`` opens the desktop app (``photofind.gui``). The one module
that knows both faces, so that neither imports the other."""

from __future__ import annotations

import sys

from photofind import cli
from photofind.library import heap


def main(argv: list[str] | None = None) -> int:
    heap.return_big_blocks()  # a steady memory peak while indexing (see photofind.library.heap)
    args = cli.build_parser().parse_args(argv)
    if args.command in (None, "gui"):
        return launch_gui(args)
    return cli.run(args)


def launch_gui(args) -> int:
    try:
        if args.self_test is not None:
            from photofind.gui.selftest import run_self_test as run_app
        else:
            from photofind.gui.app import run_app
    except ImportError as exc:
        if args.self_test is not None:
            print(f"photofind self-test FAILED: the desktop app cannot start: {exc}",
                  file=sys.stderr)
            return cli.EXIT_FAILED
        cli.build_parser().print_help()
        return 0
    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
