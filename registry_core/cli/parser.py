"""The ``modelreg`` parser: every command, its options and their help text (docs/cli.md documents each;
tests/test_docs.py checks it), and the handler each command runs."""

from __future__ import annotations

import argparse

from registry_core.cli.commands_dashboard import cmd_ui
from registry_core.cli.commands_integrations import cmd_card, cmd_diff, cmd_import_mlflow, cmd_pull, cmd_sync
from registry_core.cli.commands_lifecycle import (
    cmd_alias,
    cmd_answer,
    cmd_describe,
    cmd_history,
    cmd_plan,
    cmd_promote,
    cmd_requests,
    cmd_rollback,
    cmd_tag,
)
from registry_core.cli.commands_maintenance import cmd_gc, cmd_refresh, cmd_validate, cmd_verify
from registry_core.cli.commands_versions import (
    cmd_compare,
    cmd_datasets,
    cmd_init,
    cmd_lineage,
    cmd_list,
    cmd_log_metrics,
    cmd_query,
    cmd_register,
    cmd_resolve,
    cmd_show,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelreg", description="A model registry that lives in your git repo.")
    parser.add_argument("--catalog", help="catalog folder (default: $MODELREG_CATALOG, else ./catalog)")
    parser.add_argument("--user", help="acting user (default: $MODELREG_USER, else git user.email, else login)")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str, handler, listing: bool = True, choices=("table", "json", "csv")):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        if listing:
            p.add_argument("--format", choices=choices, default=choices[0], help="output format")
        return p

    p = command("init", "create an empty catalog with a commented registry.yaml", cmd_init, listing=False)
    p.add_argument("path", nargs="?", help="folder to create (default: --catalog or ./catalog)")
    p.add_argument("--name", help="the catalog's display name")

    p = command("register", "add a version of a model; prints MODEL@N", cmd_register)
    p.add_argument("model", help="model name (created on first use)")
    p.add_argument("--artifact", action="append",
                   help="file or folder to copy in, or upload to the artifact store if one is set (repeatable)")
    p.add_argument("--param", action="append", help="hyperparameter KEY=VALUE (repeatable)")
    p.add_argument("--params", help="YAML or JSON file of params")
    p.add_argument("--metric", action="append", help="headline metric [DATASET:]NAME=VALUE (repeatable)")
    p.add_argument("--metrics", help="CSV, JSON or Parquet metric table")
    p.add_argument("--dataset", action="append", help="lineage dataset ROLE=NAME@VERSION (repeatable)")
    p.add_argument("--parent", action="append", help="parent version REF (repeatable)")
    p.add_argument("--description", help="what this version is")
    p.add_argument("--tag", action="append", help="tag KEY=VALUE (repeatable)")
    p.add_argument("--framework", help="e.g. 'scikit-learn 1.5.2'")
    p.add_argument("--task", help="e.g. binary-classification")

    p = command("log-metrics", "add a metric table (CSV, JSON or Parquet) to a version", cmd_log_metrics)
    p.add_argument("ref", help="MODEL@VERSION")
    p.add_argument("file", help="CSV, JSON or Parquet file in the long metric format")
    p.add_argument("--dataset", help="dataset for rows that name none")

    p = command("list", "models with stage holders; or one model's versions with headline metrics", cmd_list)
    p.add_argument("model", nargs="?", help="list this model's versions")

    p = command("show", "one version: manifest, stage, metrics, artifacts, lineage, events", cmd_show,
                choices=("table", "json"))
    p.add_argument("ref", help="MODEL@VERSION|STAGE|ALIAS|latest")

    p = command("compare", "headline metrics side by side, best marked, deltas to the first", cmd_compare)
    p.add_argument("refs", nargs="+", metavar="REF", help="versions to compare")

    p = command("lineage", "upstream datasets and parents, downstream children", cmd_lineage,
                choices=("table", "json", "dot", "csv"))
    p.add_argument("ref", help="MODEL@VERSION")

    p = command("promote", "evaluate gates; promote, or open a request when approvals are needed", cmd_promote,
                choices=("table", "json"))
    p.add_argument("model", help="model name")
    p.add_argument("version", help="version number")
    p.add_argument("stage", help="target stage")
    p.add_argument("--reason", help="why (recorded in the event)")
    p.add_argument("--force", action="store_true", help="override gates and approvals (approvers only, needs --reason)")

    p = command("plan", "what promoting would do now (gates, permissions, approvals), without writing", cmd_plan,
                choices=("table", "json"))
    p.add_argument("model", help="model name")
    p.add_argument("version", help="version number")
    p.add_argument("stage", help="target stage")
    p.add_argument("--force", action="store_true", help="plan a forced promotion (approvers only)")

    p = command("requests", "pending requests", cmd_requests)
    p.add_argument("model", nargs="?", help="only this model")

    for name, help_ in (("approve", "approve a pending request (the last needed approval promotes)"),
                        ("reject", "reject a pending request"), ("cancel", "cancel a pending request")):
        p = command(name, help_, cmd_answer, choices=("table", "json"))
        p.add_argument("model", help="model name")
        p.add_argument("request", help="request id (see 'modelreg requests')")
        p.add_argument("--reason", help="why")

    p = command("rollback", "put back the version that held the stage before the current one", cmd_rollback,
                choices=("table", "json"))
    p.add_argument("model", help="model name")
    p.add_argument("--stage", default="production", help="stage to roll back (default: production)")
    p.add_argument("--reason", help="why (required)")

    p = command("resolve", "print the MODEL@N a reference points at", cmd_resolve, choices=("table", "json"))
    p.add_argument("ref", help="MODEL@VERSION|STAGE|ALIAS|latest")
    p.add_argument("--at", help="answer as of this ISO 8601 time")

    p = command("alias", "point a named alias at a version", cmd_alias, choices=("table", "json"))
    p.add_argument("model", help="model name")
    p.add_argument("version", help="version number")
    p.add_argument("name", help="alias name, e.g. champion")
    p.add_argument("--remove", action="store_true", help="remove the alias instead")

    p = command("datasets", "datasets named in lineage, or the versions that used one (its impact)", cmd_datasets)
    p.add_argument("name", nargs="?", help="only this dataset: the versions that used it, their stages")

    p = command("describe", "change a version's description (recorded as an event)", cmd_describe,
                choices=("table", "json"))
    p.add_argument("ref", help="MODEL@VERSION|STAGE|ALIAS|latest")
    p.add_argument("text", help="the new description")

    p = command("tag", "set or remove a version's tags (recorded as an event)", cmd_tag, choices=("table", "json"))
    p.add_argument("ref", help="MODEL@VERSION|STAGE|ALIAS|latest")
    p.add_argument("pairs", nargs="*", metavar="K=V", help="tags to set")
    p.add_argument("--remove", action="append", metavar="K", help="tag key to remove (repeatable)")

    p = command("history", "the audit trail, newest first (rollbacks shown as such)", cmd_history)
    p.add_argument("model", nargs="?", help="only this model")

    p = command("query", "run read-only SQL over the views", cmd_query)
    p.add_argument("sql", help="one SELECT over models, versions, metrics, headline, params, lineage, events, "
                               "stages, requests, aliases, stage_history")

    p = command("validate", "check every file against the spec; exit 1 on any error", cmd_validate)
    p.add_argument("--require-signed", action="store_true",
                   help="also require each event's git commit to be signed by the author its 'by' names")

    p = command("refresh", "bring the index in .modelreg/ up to date with the files (reads check on their own)",
                cmd_refresh)
    p.add_argument("--full", action="store_true",
                   help="stat every file, also write-once files rewritten in place (otherwise every folder)")

    p = command("verify", "recompute artifact checksums; exit 1 on any mismatch", cmd_verify)
    p.add_argument("ref", nargs="?", help="only this version")
    p.add_argument("--deep", action="store_true",
                   help="stream stored objects and recompute their sha256 (default: check existence and size)")

    p = command("gc", "remove leftovers of interrupted writes (temporary files, unfinished versions)", cmd_gc)
    p.add_argument("--older-than", type=float, default=60,
                   help="only leftovers older than this many minutes (default 60)")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed")
    p.add_argument("--objects", action="store_true",
                   help="instead: objects in the artifact store that no manifest references (run --dry-run first)")

    p = command("import-mlflow", "bring registered models, runs and stages in from an MLflow store; "
                "re-running imports only what is new", cmd_import_mlflow)
    p.add_argument("--tracking-uri", required=True, help="MLflow store: sqlite:///mlflow.db, ./mlruns, http://...")
    p.add_argument("--model", action="append", help="only this registered model (repeatable; default: all)")
    p.add_argument("--artifacts", choices=("copy", "reference", "none"), default="copy",
                   help="copy model files in or to the artifact store (default), record their URIs with checksums, "
                        "or skip them")
    p.add_argument("--dataset-prefix", action="append", metavar="PREFIX=DATASET",
                   help="split metric names into metric and dataset, e.g. test_=test (repeatable)")

    p = command("sync", "commit catalog changes, git pull --rebase (renumbering colliding local versions), push",
                cmd_sync, choices=("table", "json"))
    p.add_argument("--remote", help="git remote (default: the branch's upstream remote, else origin)")
    p.add_argument("--no-push", action="store_true", help="pull and renumber, but do not push")
    p.add_argument("--pull-only", action="store_true",
                   help="read-only clone (dashboard replica, CI): fast-forward to the remote; never commit or push")
    p.add_argument("--drop-stale", action="store_true",
                   help="remove local events whose decision no longer holds after the pull, push the rest")

    p = command("pull", "copy a version's artifacts into a folder, verified by checksum (all or nothing)", cmd_pull)
    p.add_argument("ref", help="MODEL@VERSION|STAGE|ALIAS|latest")
    p.add_argument("--to", required=True, help="folder to copy the files into (created if missing)")

    p = command("card", "write a Markdown model card (Hugging Face format) for a version", cmd_card, listing=False)
    p.add_argument("ref", help="MODEL@VERSION|STAGE|ALIAS|latest")
    p.add_argument("-o", "--output", help="write the card to this file (default: print it)")

    p = command("diff", "catalog changes since a git revision (new versions against production, gates, events)",
                cmd_diff, choices=("markdown", "json"))
    p.add_argument("rev", help="git revision to compare with, e.g. origin/main (its merge base with HEAD)")

    p = command("ui", "start the dashboard (Streamlit) on this catalog", cmd_ui, listing=False)
    p.add_argument("--port", type=int, default=8501, help="port to serve on (default: 8501)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    return parser
