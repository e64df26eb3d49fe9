"""Whole-catalog checks and clean-up: validate, refresh, verify, gc."""

from __future__ import annotations

import argparse
import sys

from registry_core import formats
from registry_core.catalog import Catalog
from registry_core.cli.output import out


def cmd_validate(args: argparse.Namespace, cat: Catalog) -> int:
    problems = cat.validate(require_signed=args.require_signed)
    errors = sum(p["severity"] == "error" for p in problems)
    if args.format == "table":
        for p in problems:
            out(f"{p['severity']}: {p['path']}: {p['message']}")
        out(f"{errors} error(s), {len(problems) - errors} warning(s)")
    else:
        out(formats.render(problems, args.format, ["path", "severity", "message"]))
    return 1 if errors else 0


def cmd_refresh(args: argparse.Namespace, cat: Catalog) -> int:
    generation = cat.refresh(full=args.full)
    out(formats.render([{"generation": generation.folder.name, "checked": "every file" if args.full
                         else "every folder"}], args.format, ["generation", "checked"]))
    return 0


def cmd_verify(args: argparse.Namespace, cat: Catalog) -> int:
    results = cat.verify(args.ref, deep=True if args.deep else None)
    out(formats.render(results, args.format, ["ref", "path", "ok", "message"]))
    bad = [r for r in results if not r["ok"]]
    if bad:
        print(f"error: {len(bad)} artifact(s) failed verification, first: {bad[0]['ref']} {bad[0]['path']}: "
              f"{bad[0]['message']}", file=sys.stderr)
        return 1
    return 0


def cmd_gc(args: argparse.Namespace, cat: Catalog) -> int:
    removed = cat.gc(older_than_s=args.older_than * 60, dry_run=args.dry_run, objects=args.objects)
    verb = "would remove" if args.dry_run else "removed"
    out(formats.render([{"path": p, "action": verb} for p in removed], args.format, ["path", "action"]))
    return 0
