"""Commands that change or show the lifecycle: promote, plan, requests and their answers, rollback, alias,
describe, tag, history.  The decisions are the core's (``lifecycle/``); these only format them."""

from __future__ import annotations

import argparse

from registry_core import formats
from registry_core.catalog import Catalog
from registry_core.cli.output import checklist, out
from registry_core.errors import PolicyRefused


def cmd_promote(args: argparse.Namespace, cat: Catalog) -> int:
    try:
        result = cat.promote(args.model, args.version, args.stage, reason=args.reason, force=args.force)
    except PolicyRefused as exc:
        gates = [g.to_dict() for g in exc.gates]
        if args.format == "json":
            # the why goes on stderr as usual, and into the JSON too (SPEC section 2)
            out(formats.to_json({"status": "refused", "request": None, "reason": str(exc), "gates": gates}))
        else:
            out(checklist(gates))
        raise
    if args.format == "json":
        out(formats.to_json({"status": result["status"], "request": result["request"], "reason": args.reason,
                             "gates": result["gates"]}))
    else:
        out(checklist(result["gates"]))
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
    out(checklist(result["gates"]))
    what = {"promote": "would promote", "request": f"would open a request ({plan.needs_approval} approval(s))"}
    out(f"{plan.user}: {plan.model}@{plan.version} ({plan.current}) -> {plan.stage}: "
        + what.get(plan.action, f"would be refused: {plan.reason}"))
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
