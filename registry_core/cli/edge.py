"""The error edge of ``modelreg``: parse, open the catalog, run the command's handler, and turn what it
raises into one line and an exit code.

Errors are caught once, here: a RegistryError prints one ``error: ...`` line on stderr and exits with
its code (1, or 3 when refused by policy); argparse exits 2 on usage errors.  Heavy libraries (pandas,
streamlit) are imported only by the commands that need them, so ``resolve`` starts fast.
"""

from __future__ import annotations

import os
import sys
import warnings

from registry_core.catalog import Catalog
from registry_core.cli.commands_versions import cmd_init
from registry_core.cli.parser import build_parser
from registry_core.errors import RegistryError, unwritable
from registry_core.index.generation import CacheRebuilt


class _Progress:
    """A first build's walk on a terminal: files seen, their rate, and the time left by the rate of
    the last first build of this size (about 1 s per 1,500 versions, 2.7 files each)."""

    FILES_PER_S = 4000

    def __init__(self) -> None:
        import time

        self.clock = time.monotonic
        self.started = self.shown = self.clock()

    def __call__(self, folders: int, files: int) -> None:
        now = self.clock()
        if now - self.shown < 0.25:
            return
        self.shown = now
        elapsed = now - self.started
        print(f"\rindexing the catalog for the first time: {files:,} files in {folders:,} folders, {elapsed:.0f} s "
              f"(about {files / self.FILES_PER_S:.0f} s in all for these)", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        print("\r\033[K", end="", file=sys.stderr, flush=True)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("always", CacheRebuilt)  # the core says it once per damage found
        warnings.showwarning = _one_line_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.handler is cmd_init:
            return cmd_init(args)
        catalog = Catalog(args.catalog, user=args.user)
        if not (sys.stderr.isatty() and not catalog.indexed):
            return args.handler(args, catalog)
        progress = _Progress()
        catalog.on_first_build(progress)
        try:
            return args.handler(args, catalog)
        finally:
            progress.done()
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if args.traceback:
            raise
        refused = unwritable(exc, args.catalog or "the catalog") if isinstance(exc, OSError) else None
        if refused is not None:  # a write outside the Catalog's write methods (those raise it themselves)
            print(f"error: {refused}", file=sys.stderr)
            return refused.exit_code
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --traceback for details)", file=sys.stderr)
        return 1
