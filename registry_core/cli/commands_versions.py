"""Commands over versions: create a catalog, register, log metrics, and the read-only views of versions
(list, show, compare, lineage, resolve, datasets, query).  Each calls one Catalog method and formats."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from registry_core import formats
from registry_core.catalog import Catalog, metric_key
from registry_core.cli.inputs import kv, load_mapping_file
from registry_core.cli.output import out, progress_bar
from registry_core.errors import InvalidInput


def cmd_init(args: argparse.Namespace) -> int:
    path = args.path or args.catalog or "catalog"
    Catalog.init(path, name=args.name)
    out(f"Initialized an empty catalog in {path}")
    return 0


def cmd_register(args: argparse.Namespace, cat: Catalog) -> int:
    params = load_mapping_file(args.params, "--params") if args.params else {}
    if not isinstance(params, dict):
        raise InvalidInput(f"--params {args.params}: expected a mapping of name to value")
    params.update(kv(args.param, "--param"))
    from registry_core.format.metrics import parse_metric_args, read_input_file  # (pyarrow: only here)

    rows = read_input_file(Path(args.metrics)).to_pylist() if args.metrics else []
    rows.extend(parse_metric_args(args.metric or []))
    metrics = rows or None
    result = cat.register(args.model, params=params, metrics=metrics, artifacts=args.artifact,
                          datasets=args.dataset, parents=args.parent, description=args.description,
                          tags=kv(args.tag, "--tag") or None, framework=args.framework, task=args.task,
                          progress=progress_bar())
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


def cmd_resolve(args: argparse.Namespace, cat: Catalog) -> int:
    result = cat.resolve(args.ref, at=args.at)
    out(formats.to_json(result) if args.format == "json" else result["ref"])
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


def cmd_query(args: argparse.Namespace, cat: Catalog) -> int:
    frame = cat.query(args.sql)
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    out(formats.render(rows, args.format, list(frame.columns)))
    return 0
