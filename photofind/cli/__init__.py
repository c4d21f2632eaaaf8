"""``photofind COMMAND``: the command line, a thin face over
``photofind.services.library.PhotoLibrary``. (With no command, ``photofind.launch`` opens the
desktop app instead; this package never imports the GUI.)"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys
from pathlib import Path

from photofind.cli import learning_commands, library_commands
from photofind.cli.library_commands import EXIT_FAILED, EXIT_USAGE
from photofind.cli.parser import build_parser
from photofind.library.catalog import backups
from photofind.services import storage
from photofind.services.data_dir import default_data_dir

COMMANDS = {"index": library_commands.cmd_index, "read-text": library_commands.cmd_read_text,
            "search": library_commands.cmd_search,
            "status": library_commands.cmd_status, "forget": library_commands.cmd_forget,
            "show": library_commands.cmd_show, "edit": library_commands.cmd_edit,
            "import-captions": library_commands.cmd_import_captions,
            "watch": library_commands.cmd_watch, "adapt": learning_commands.cmd_adapt,
            "concepts": learning_commands.cmd_concepts, "eval": learning_commands.cmd_eval}


def main(argv: list[str] | None = None) -> int:
    """Parse and run one command; without one, print the help (the app is
    ``photofind.launch``'s to open)."""
    args = build_parser().parse_args(argv)
    if args.command not in COMMANDS:
        build_parser().print_help()
        return 0
    return run(args)


def run(args) -> int:
    """Run the parsed command; known failures become one line on stderr and an exit status,
    never a traceback."""
    from photofind.embed.spec import ModelUnavailable
    from photofind.library.catalog import CatalogTooNew
    from photofind.services.options import open_library

    logging.basicConfig(format="%(message)s")  # stderr: stdout stays for results and JSON
    logging.getLogger("photofind").setLevel(logging.INFO)
    signal.signal(signal.SIGTERM, _terminated)  # `kill`, logout: stop cleanly, as Ctrl+C
    lib = None
    try:
        lib = open_library(args)
        code = COMMANDS[args.command](lib, args)
        sys.stdout.flush()  # a closed pipe shows here, where it is handled, not at exit
        return code
    except (ModelUnavailable, storage.LibraryReadOnly, CatalogTooNew) as exc:
        print(f"photofind: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"photofind: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("photofind: interrupted; everything done so far is saved.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left early (`photofind status | head`): fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
        return 0
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):
            return _storage_fault(exc, lib, args)
        folder = lib.data_dir if lib else Path(args.data_dir or default_data_dir())
        backups.mark_suspect(folder / "catalog.sqlite3")
        print(f"photofind: the catalog is damaged ({exc}); run the command again: photofind "
              "then restores it from its newest good backup", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        return _storage_fault(exc, lib, args)
    finally:
        if lib is not None:
            lib.close()


def _storage_fault(exc: BaseException, lib, args) -> int:
    """A full or read-only disk as one line; anything else is a bug to see whole."""
    folder = lib.data_dir if lib else Path(args.data_dir or default_data_dir())
    message = storage.explain(exc, folder)
    if message is None:
        raise exc
    print(f"photofind: {message}", file=sys.stderr)
    return EXIT_FAILED


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt  # the same clean stop: pools shut down, work so far kept
