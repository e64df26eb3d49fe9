"""Commands that reach outside the catalog: import-mlflow, sync (git), pull, card, diff."""

from __future__ import annotations

import argparse
from pathlib import Path

from registry_core import formats
from registry_core.catalog import Catalog
from registry_core.cli.output import out
from registry_core.errors import InvalidInput


def cmd_import_mlflow(args: argparse.Namespace, cat: Catalog) -> int:
    rows = cat.import_mlflow(args.tracking_uri, models=args.model, artifacts=args.artifacts,
                             dataset_prefixes=args.dataset_prefix)
    out(formats.render(rows, args.format, ["mlflow", "ref", "action", "detail"]))
    return 0


def cmd_sync(args: argparse.Namespace, cat: Catalog) -> int:
    result = cat.sync(remote=args.remote, push=not args.no_push, pull_only=args.pull_only,
                      drop_stale=args.drop_stale)
    if args.format == "json":
        out(formats.to_json(result))
        return 0
    for move in result["renumbered"]:
        out(f"renumbered {move['model']}@{move['from']} -> {move['model']}@{move['to']} "
            "(its number was taken by a pushed version)")
    for stale in result["dropped"]:
        out(f"dropped {stale['path']}: {stale['why']}")
    out(f"committed {result['committed'][:12] if result['committed'] else 'nothing'}; pulled {result['pulled']} "
        f"commit(s); pushed {result['pushed']} commit(s)")
    return 0


def cmd_pull(args: argparse.Namespace, cat: Catalog) -> int:
    rows = cat.pull(args.ref, args.to)
    out(formats.render(rows, args.format, ["path", "status", "sha256", "size", "target"]))
    return 0


def cmd_card(args: argparse.Namespace, cat: Catalog) -> int:
    text = cat.card(args.ref)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"--output {args.output}: cannot write ({exc.strerror})") from None
        out(args.output)
    else:
        out(text)
    return 0


def cmd_diff(args: argparse.Namespace, cat: Catalog) -> int:
    from registry_core.integrations.diff import to_markdown

    result = cat.diff(args.rev)
    out(formats.to_json(result) if args.format == "json" else to_markdown(result))
    return 0
