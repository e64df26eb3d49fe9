"""Tables derived from the file rows: replayed state and headline metrics.

Stages, pending requests, aliases and the stage timeline come from replaying
each model's events (``events.replay``); headline metrics come from one DuckDB
aggregate query over the metric segments.  Both are written next to the other
tables of a generation so readers never recompute them, and an index refresh
recomputes them only for the models and versions whose files changed.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from registry_core.errors import InvalidInput
from registry_core.format.settings import Settings, parse_policies
from registry_core.index import db
from registry_core.index.auditing import AuditSource
from registry_core.index.files import HEADLINE_BUCKETS, headline_bucket, headline_file  # noqa: F401
from registry_core.lifecycle.events import Event, replay

#: the headline value of each (model, version, metric, dataset, slice): a row without a step first, then the
#: latest timestamp, then the highest step (rows without one last), then the last file, then the highest
#: value.  One arg_max over a key without NULLs (five times cheaper than a window query and a filter).
HEADLINE_SQL = """
SELECT model, version, metric, dataset, slice,
       arg_max(value, struct_pack(a := step IS NULL, b := timestamp IS NOT NULL,
                                  c := coalesce(timestamp, '1970-01-01'::TIMESTAMPTZ), d := step IS NOT NULL,
                                  e := coalesce(step, 0), f := _source, g := value)) AS value
FROM read_parquet($segments) {where}
GROUP BY model, version, metric, dataset, slice
"""
_S, _I, _TS = pa.string(), pa.int64(), pa.timestamp("us", tz="UTC")
DERIVED = {
    "stages": pa.schema([("model", _S), ("stage", _S), ("version", _I), ("since", _TS), ("by", _S)]),
    "requests": pa.schema([("id", _S), ("model", _S), ("version", _I), ("stage", _S), ("by", _S), ("at", _TS),
                           ("approvals", _I), ("needed", _I), ("approvers", _S), ("reason", _S)]),
    "aliases": pa.schema([("model", _S), ("alias", _S), ("version", _I), ("since", _TS), ("by", _S)]),
    "spans": pa.schema([("model", _S), ("stage", _S), ("version", _I), ("start", _TS), ("end", _TS),
                        ("by", _S)]),
    "violations": pa.schema([("model", _S), ("id", _S), ("rule", _S)]),
    # describe and tag events: the latest description, and the tags set (a JSON merge patch: null removes)
    "edits": pa.schema([("model", _S), ("version", _I), ("description", _S), ("tags", _S)]),
    "headline": pa.schema([("model", _S), ("version", _I), ("metric", _S), ("dataset", _S), ("slice", _S),
                           ("value", pa.float64())]),
}


def events_from_rows(rows: list[dict]) -> dict[str, list[Event]]:
    """Group the index's event rows back into Event records, per model."""
    by_model: dict[str, list[Event]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(Event(
            id=row["id"], at=row["at"], by=row["by"], model=row["model"], action=row["action"],
            version=row["version"], stage=row["stage"], reason=row["reason"], request=row["request"],
            gates=tuple(json.loads(row["gates"])) if row["gates"] else (), forced=bool(row["forced"]),
            rollback_of=row["rollback_of"], alias=row["alias"], approvals_needed=row["approvals_needed"],
            description=row.get("description"), tags=tuple(json.loads(row["tags"]).items()) if row.get("tags") else (),
            remove=tuple(json.loads(row["remove"])) if row.get("remove") else (),
        ))
    return by_model


def events_from_table(table: pa.Table) -> dict[str, list[Event]]:
    """Group the index's event rows (an Arrow table) back into Event records, per model."""
    return events_from_rows(table.to_pylist())


def needed_approvals(settings: Settings, model_policies: str | None) -> dict[str, int]:
    """Approvals needed per stage for one model (its model.yaml overrides the catalog's policy)."""
    policies = dict(settings.policies)
    if model_policies:
        try:
            policies.update(parse_policies(json.loads(model_policies), "model.yaml"))
        except InvalidInput:
            pass
    return {stage: policy.approvals for stage, policy in policies.items()}


def derive_state(events: pa.Table, models: pa.Table, versions: dict[str, set[int]],
                 settings: Settings, source: AuditSource | None = None) -> dict[str, pa.Table]:
    """Replay the events of the models in ``events`` into stages, requests, aliases, spans and violations.

    ``versions``: the existing versions of each model; events naming others (validate reports them)
    cannot move stages.  ``source``: the facts of the policy check; each event that breaks the policy in
    force when it was written is a row of ``violations`` and has no effect.
    """
    model_policies = dict(zip(models["model"].to_pylist(), models["policies"].to_pylist()))
    rows: dict[str, list[dict]] = {name: [] for name in DERIVED if name != "headline"}
    for model, found in events_from_table(events).items():
        existing = versions.get(model, set())
        found = [e for e in found if e.version is None or e.version in existing]
        state = replay(model, found, settings, needed_approvals(settings, model_policies.get(model)),
                       audit=source.audit(model, found) if source is not None else None)
        rows["violations"].extend({"model": model, "id": i, "rule": r} for i, r in state.violations.items())
        for version in sorted(set(state.descriptions) | set(state.tag_patches)):
            patch = state.tag_patches.get(version)
            rows["edits"].append({"model": model, "version": version, "description": state.descriptions.get(version),
                                  "tags": json.dumps(patch, sort_keys=True) if patch else None})
        for version, stage in state.stage_of.items():
            if stage != "none":
                since, by = state.since[version]
                rows["stages"].append({"model": model, "stage": stage, "version": version, "since": since, "by": by})
        for request in state.pending():
            rows["requests"].append({
                "id": request.id, "model": model, "version": request.version, "stage": request.stage,
                "by": request.by, "at": request.at, "approvals": len(request.approvals), "needed": request.needed,
                "approvers": ",".join(request.approvals), "reason": request.reason,
            })
        for alias, (version, since, by) in state.aliases.items():
            rows["aliases"].append({"model": model, "alias": alias, "version": version, "since": since, "by": by})
        for span in state.spans:
            rows["spans"].append({"model": model, "stage": span.stage, "version": span.version, "start": span.start,
                                  "end": span.end, "by": span.by})
    return {name: pa.Table.from_pylist(found, schema=DERIVED[name]) for name, found in rows.items()}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: past this many changed versions, recomputing every headline is cheaper than picking them out
FULL_HEADLINE_FROM = 500

def split_headline(table: pa.Table) -> dict[int, pa.Table]:
    """Headline rows by bucket (each bucket sorted by model and version, so reads for one model skip)."""
    models = pc.unique(table["model"]).to_pylist()
    by_bucket: dict[int, list[str]] = {}
    for model in models:
        by_bucket.setdefault(headline_bucket(model), []).append(model)
    out = {}
    for bucket in range(HEADLINE_BUCKETS):
        names = by_bucket.get(bucket)
        rows = table.filter(pc.is_in(table["model"], value_set=pa.array(names, pa.string()))) if names \
            else DERIVED["headline"].empty_table()
        out[bucket] = rows.sort_by([("model", "ascending"), ("version", "ascending")])
    return out


def derive_headline(segments: list[str], touched: set[tuple[str, int]] | None, old: pa.Table | None,
                    valid: set[tuple[str, int]]) -> pa.Table:
    """Headline rows of every valid version: recomputed for ``touched`` versions (all if None), kept for others.

    The rows replaced are those of the touched models whose version number was touched in any of them
    (a superset of ``touched`` that two ``is_in`` masks select without building keys for every row); all
    of them are recomputed.
    """
    if touched is not None and len(touched) > FULL_HEADLINE_FROM:
        touched = None
    if not segments:
        return DERIVED["headline"].empty_table()
    con = db.build_cursor()
    try:
        if touched is None or old is None:
            fresh = con.sql(HEADLINE_SQL.format(where=""), params={"segments": segments}).to_arrow_table()
            return fresh.cast(DERIVED["headline"])
        models = sorted({m for m, _ in touched})
        numbers = sorted({v for _, v in touched})
        replaced = pc.and_(pc.is_in(old["model"], value_set=pa.array(models, pa.string())),
                           pc.is_in(old["version"], value_set=pa.array(numbers, pa.int64())))
        wanted = {(m, v) for m, v in valid if m in set(models) and v in set(numbers)}
        if wanted:
            # model IN (...) is pushed into the Parquet scan (row groups of other models are skipped)
            where = (f"WHERE model IN ({', '.join(_quote(m) for m in models)}) "
                     f"AND version IN ({', '.join(str(v) for v in numbers)}) "
                     f"AND model || '@' || version IN ({', '.join(_quote(f'{m}@{v}') for m, v in sorted(wanted))})")
            fresh = con.sql(HEADLINE_SQL.format(where=where), params={"segments": segments}).to_arrow_table()
        else:
            fresh = DERIVED["headline"].empty_table()
    finally:
        con.close()
    kept = old.filter(pc.invert(replaced)).cast(DERIVED["headline"])
    return pa.concat_tables([kept, fresh.cast(DERIVED["headline"])])
