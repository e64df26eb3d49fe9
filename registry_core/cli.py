"""The ``modelreg`` command line: parse, call one Catalog method, format.

Errors are caught once, in ``main``: a RegistryError prints one ``error: ...``
line on stderr and exits with its code (1, or 3 when refused by policy);
argparse exits 2 on usage errors.  Heavy libraries (pandas, streamlit) are
imported only by the commands that need them, so ``resolve`` starts fast.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from registry_core import formats
from registry_core.catalog import Catalog, metric_key
from registry_core.errors import InvalidInput, NotFound, PolicyRefused, RegistryError
from registry_core.index.generation import CacheRebuilt


def _kv(items: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{what} {item!r}: expected KEY=VALUE")
        out[key] = _scalar(value)
    return out


def _scalar(text: str) -> Any:
    """``--param`` values: ints, floats, true/false, null, else the string itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _load_mapping_file(path: str, what: str) -> Any:
    from registry_core.format.yamlio import load_file

    file = Path(path)
    if file.suffix.lower() == ".json":
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{what} {path}: {exc}") from None
    return load_file(file)


def out(text: str) -> None:
    print(text)


def _progress_bar():
    """A one-line upload progress bar on stderr, only when stderr is a terminal (never in logs or pipes)."""
    if not sys.stderr.isatty():
        return None
    started = time.monotonic()

    def show(name: str, done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-6) / 1e6
        percent = 100 * done // total if total else 100
        sys.stderr.write(f"\r\x1b[Kuploading {name[-40:]}: {percent:3d}% of {total / 1e6:,.1f} MB, {rate:,.0f} MB/s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


# -- commands -----------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    path = args.path or args.catalog or "catalog"
    Catalog.init(path, name=args.name)
    out(f"Initialized an empty catalog in {path}")
    return 0


def cmd_register(args: argparse.Namespace, cat: Catalog) -> int:
    params = _load_mapping_file(args.params, "--params") if args.params else {}
    if not isinstance(params, dict):
        raise InvalidInput(f"--params {args.params}: expected a mapping of name to value")
    params.update(_kv(args.param, "--param"))
    from registry_core.format.metrics import parse_metric_args, read_input_file  # (pyarrow: only here)

    rows = read_input_file(Path(args.metrics)).to_pylist() if args.metrics else []
    rows.extend(parse_metric_args(args.metric or []))
    metrics = rows or None
    result = cat.register(args.model, params=params, metrics=metrics, artifacts=args.artifact,
                          datasets=args.dataset, parents=args.parent, description=args.description,
                          tags=_kv(args.tag, "--tag") or None, framework=args.framework, task=args.task,
                          progress=_progress_bar())
    out(formats.to_json(result) if args.format == "json" else f"{result['model']}@{result['version']}")
    return 0


def cmd_log_metrics(args: argparse.Namespace, cat: Catalog) -> int:
    path = cat.log_metrics(args.ref, args.file, args.dataset)
    out(formats.to_json({"ref": args.ref, "path": path}) if args.format == "json" else path)
    return 0


def cmd_list(args: argparse.Namespace, cat: Catalog) -> int:
    if args.model:
        rows = cat.list(args.model)
        if args.format == "json":
            out(formats.to_json(rows))
            return 0
        keys = sorted({k for r in rows for k in r.get("metrics", {})})
        flat = [{**{k: v for k, v in r.items() if k != "metrics"}, **r.get("metrics", {})} for r in rows]
        out(formats.render(flat, args.format, ["version", "stage", "created_at", "created_by", *keys]))
        return 0
    with cat.snapshot():  # one freshness check for the models and the settings
        models, settings = cat.list(), cat.settings
    if args.format == "json":
        out(formats.to_json(models))
        return 0
    stages = [s for s in settings.stage_names if s != "archived"]
    flat = [{**m, **{s: ",".join(str(v) for v in m["stages"].get(s, [])) for s in stages}} for m in models]
    out(formats.render(flat, args.format, ["model", "latest", "versions", *stages, "description"]))
    return 0


def cmd_show(args: argparse.Namespace, cat: Catalog) -> int:
    info = cat.show(args.ref)
    if args.format == "json":
        out(formats.to_json(info))
        return 0
    manifest = info["manifest"]
    lines = [f"{info['ref']}  stage: {info['stage']}" + (f"  aliases: {', '.join(info['aliases'])}"
                                                         if info["aliases"] else ""),
             f"created {manifest.get('created_at')} by {manifest.get('created_by', '?')}"]
    if info["description"]:
        lines.append(f"description: {info['description']}")
    for key in ("framework", "task"):
        if manifest.get(key):
            lines.append(f"{key}: {manifest[key]}")
    if info["tags"]:
        lines.append("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(info["tags"].items())))
    if manifest.get("params"):
        lines.append("params: " + ", ".join(f"{k}={v}" for k, v in manifest["params"].items()))
    lines += ["", "headline metrics:", formats.to_table(
        [{"metric": metric_key(h), "value": h["value"]} for h in info["headline"]])]
    if manifest.get("artifacts"):
        lines += ["", "artifacts:", formats.to_table(manifest["artifacts"])]
    lineage = info["lineage"]
    lines += ["", "lineage:"]
    lines += [f"  dataset {d['ref']} ({d['role'] or '-'})" for d in lineage["datasets"]]
    lines += [f"  parent {p}" for p in lineage["parents"]]
    lines += [f"  child {c['ref']} ({c['stage']})" for c in lineage["children"]]
    lines += ["", "events:", formats.to_table(
        [{k: e[k] for k in ("at", "by", "action", "stage", "reason")} for e in info["events"]])]
    out("\n".join(lines))
    return 0


def cmd_compare(args: argparse.Namespace, cat: Catalog) -> int:
    comparison = cat.compare(args.refs)
    if args.format == "json":
        out(formats.to_json(comparison.to_dict()))
        return 0
    rows = []
    for row in comparison.rows:
        flat = {"metric": metric_key(row), "goal": row["goal"]}
        for i, ref in enumerate(comparison.refs):
            value = row["values"][ref]
            mark = "*" if ref in row["best"] else ""
            flat[ref] = "" if value is None else f"{value:.4g}{mark}"
            if i:
                delta = row["deltas"][ref]
                flat[f"Δ {ref}"] = "" if delta is None else f"{delta:+.4g}"
        rows.append(flat)
    text = formats.render(rows, args.format)
    if args.format == "table":
        text += "\n(* = best)"
        differing = comparison.differing_params
        if differing:
            text += "\n\nparams that differ:\n" + formats.to_table(
                [{"param": p["name"], **p["values"]} for p in differing])
    out(text)
    return 0


def cmd_lineage(args: argparse.Namespace, cat: Catalog) -> int:
    from registry_core.integrations.lineage_dot import to_dot

    info = cat.lineage(args.ref)
    if args.format == "dot":
        out(to_dot(info))
    elif args.format == "json":
        out(formats.to_json(info))
    else:
        rows = [{"direction": "upstream", "kind": "dataset", "ref": d["ref"], "role": d["role"]}
                for d in info["datasets"]]
        rows += [{"direction": "upstream", "kind": "parent", "ref": p, "role": "parent"} for p in info["parents"]]
        rows += [{"direction": "downstream", "kind": "child", "ref": c["ref"], "role": c["stage"]}
                 for c in info["children"]]
        out(formats.render(rows, args.format, ["direction", "kind", "ref", "role"]))
    return 0


def _checklist(gates: list[dict]) -> str:
    if not gates:
        return "  (no gates)"
    return "\n".join(f"  [{'x' if g['passed'] else ' '}] {g['gate']}: {g['message']}" for g in gates)


def cmd_promote(args: argparse.Namespace, cat: Catalog) -> int:
    try:
        result = cat.promote(args.model, args.version, args.stage, reason=args.reason, force=args.force)
    except PolicyRefused as exc:
        gates = [g.to_dict() for g in exc.gates]
        if args.format == "json":
            # the why goes on stderr as usual, and into the JSON too (SPEC section 2)
            out(formats.to_json({"status": "refused", "request": None, "reason": str(exc), "gates": gates}))
        else:
            out(_checklist(gates))
        raise
    if args.format == "json":
        out(formats.to_json({"status": result["status"], "request": result["request"], "reason": args.reason,
                             "gates": result["gates"]}))
    else:
        out(_checklist(result["gates"]))
        if result["status"] == "pending":
            out(f"request {result['request']} opened: {args.model}@{args.version} -> {args.stage} awaits approval")
        else:
            out(f"promoted {args.model}@{args.version} -> {args.stage}" + (" (forced)" if args.force else ""))
    return 0


def cmd_plan(args: argparse.Namespace, cat: Catalog) -> int:
    plan = cat.plan(args.model, args.version, args.stage, force=args.force)
    result = {"model": plan.model, "version": plan.version, "stage": plan.stage, "user": plan.user,
              "current": plan.current, "action": plan.action, "needs_approval": plan.needs_approval,
              "gates": [g.to_dict() for g in plan.gates],
              "blockers": [{"kind": b.kind, "reason": b.reason} for b in plan.blockers]}
    if args.format == "json":
        out(formats.to_json(result))
        return 0
    out(_checklist(result["gates"]))
    what = {"promote": "would promote", "request": f"would open a request ({plan.needs_approval} approval(s))"}
    out(f"{plan.user}: {plan.model}@{plan.version} ({plan.current}) -> {plan.stage}: "
        + what.get(plan.action, f"would be refused: {plan.reason}"))
    return 0


def cmd_datasets(args: argparse.Namespace, cat: Catalog) -> int:
    rows = cat.datasets(args.name)
    if args.name is None:
        columns = ["name", "versions", "refs"]
        rows = [{**r, "refs": ", ".join(r["refs"])} for r in rows] if args.format != "json" else rows
    else:
        columns = ["model", "version", "dataset", "role", "stage", "deployed"]
        rows = [{**r, "deployed": ", ".join(r["deployed"])} for r in rows] if args.format != "json" else rows
    out(formats.render(rows, args.format, columns))
    return 0


def cmd_requests(args: argparse.Namespace, cat: Catalog) -> int:
    rows = cat.requests(args.model)
    out(formats.render(rows, args.format, ["id", "model", "version", "stage", "by", "at", "approvals", "needed",
                                           "reason"]))
    return 0


def cmd_answer(args: argparse.Namespace, cat: Catalog) -> int:
    result = getattr(cat, args.command)(args.model, args.request, reason=args.reason)
    if args.format == "json":
        out(formats.to_json(result))
    else:
        out(f"request {result['request']}: {result['status']} ({result['approvals']}/{result['needed']} approvals)")
    return 0


def cmd_rollback(args: argparse.Namespace, cat: Catalog) -> int:
    result = cat.rollback(args.model, args.stage, args.reason)
    out(formats.to_json(result) if args.format == "json" else
        f"rolled back {args.model} {args.stage}: v{result['replaced']} -> v{result['version']}")
    return 0


def cmd_resolve(args: argparse.Namespace, cat: Catalog) -> int:
    result = cat.resolve(args.ref, at=args.at)
    out(formats.to_json(result) if args.format == "json" else result["ref"])
    return 0


def cmd_alias(args: argparse.Namespace, cat: Catalog) -> int:
    result = cat.alias(args.model, args.version, args.name, remove=args.remove)
    if args.format == "json":
        out(formats.to_json(result))
    elif result["version"] is None:
        out(f"removed alias {result['alias']} of {args.model}")
    else:
        out(f"{result['alias']} -> {args.model}@{result['version']}")
    return 0


def cmd_history(args: argparse.Namespace, cat: Catalog) -> int:
    rows = cat.history(args.model)
    if args.format == "json":
        out(formats.render(rows, args.format, None))
        return 0
    # in a table or CSV the action column says "rollback" for a rollback (json has action and kind)
    shown = [{**r, "action": r["kind"]} for r in rows]
    out(formats.render(shown, args.format, ["at", "by", "model", "action", "version", "stage", "rollback_of",
                                            "reason", "request", "forced", "violation"]))
    return 0


def cmd_describe(args: argparse.Namespace, cat: Catalog) -> int:
    result = cat.describe(args.ref, args.text)
    out(formats.to_json(result) if args.format == "json" else f"described {result['ref']}")
    return 0


def cmd_tag(args: argparse.Namespace, cat: Catalog) -> int:
    from registry_core.lifecycle.edits import parse_tags

    result = cat.tag(args.ref, parse_tags(args.pairs), args.remove)
    out(formats.to_json(result) if args.format == "json" else f"tagged {result['ref']}")
    return 0


def cmd_query(args: argparse.Namespace, cat: Catalog) -> int:
    frame = cat.query(args.sql)
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    out(formats.render(rows, args.format, list(frame.columns)))
    return 0


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


def dashboard_app() -> Path:
    """The dashboard's app.py: it ships in the source checkout, next to this package (``pip install -e .``)."""
    app = Path(__file__).resolve().parent.parent / "app.py"
    if not app.is_file():
        raise NotFound(f"dashboard not found: expected {app} (the dashboard ships with the source checkout; "
                       "install modelreg from it with 'pip install -e .')")
    return app


def cmd_ui(args: argparse.Namespace, cat: Catalog) -> int:
    import importlib.util
    import os
    import subprocess

    app = dashboard_app()
    if importlib.util.find_spec("streamlit") is None:
        raise NotFound("the dashboard needs streamlit: pip install 'streamlit>=1.40,<2'")
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.address", args.address, "--browser.gatherUsageStats", "false"]
    if args.headless:
        command += ["--server.headless", "true"]
    env = {**os.environ, "MODELREG_CATALOG": str(cat.root.resolve())}
    if args.user:
        env["MODELREG_USER"] = args.user
    return run_child(subprocess.Popen(command, env=env))


def run_child(child) -> int:
    """Wait for the dashboard's server, passing SIGTERM, SIGINT and SIGHUP on to it.

    Stopping ``modelreg ui`` (Ctrl-C, ``kill``, a service manager) must stop the Streamlit server too,
    not leave it serving, re-parented to PID 1.  A second signal kills the child outright.
    """
    import signal

    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        child.send_signal(signal.SIGKILL if len(received) > 1 else signum)

    forwarded = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in forwarded}
    try:
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0 if received and code in (0, *(-s for s in (*forwarded, signal.SIGKILL))) else code


# -- parser ---------------------------------------------------------------------------------------
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


def _unwritable(exc: OSError, catalog: str | None) -> str:
    """One line for a write that the file system refused (reads still work: the index goes to temp)."""
    where = catalog or "the catalog"
    if exc.errno == errno.EROFS:
        return f"{where} is read-only ({exc.filename}: {exc.strerror}); it can be read, not written"
    return f"no space left for {where} ({exc.filename}: {exc.strerror}); the write did not complete"


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
        if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            print(f"error: {_unwritable(exc, args.catalog)}", file=sys.stderr)
            return 1
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --traceback for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
