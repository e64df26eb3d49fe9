"""Tables derived from the file rows: replayed state and headline metrics.

Stages, pending requests, aliases and the stage timeline come from replaying
each model's events (``events.replay``); headline metrics come from one DuckDB
window query over the metric segments.  Both are written next to the other
tables of a generation so readers never recompute them.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InvalidInput
from .events import Event, replay
from .settings import Settings, parse_policies

HEADLINE_SQL = """
SELECT model, version, metric, dataset, slice, value FROM (
  SELECT model, version, metric, dataset, slice, value,
         row_number() OVER (PARTITION BY model, version, metric, dataset, slice
                            ORDER BY step IS NULL DESC, timestamp DESC NULLS LAST, step DESC NULLS LAST) AS rank
  FROM read_parquet($segments)
) WHERE rank = 1
"""
_S, _I, _TS = pa.string(), pa.int64(), pa.timestamp("us", tz="UTC")
DERIVED = {
    "stages": pa.schema([("model", _S), ("stage", _S), ("version", _I), ("since", _TS), ("by", _S)]),
    "requests": pa.schema([("id", _S), ("model", _S), ("version", _I), ("stage", _S), ("by", _S), ("at", _TS),
                           ("approvals", _I), ("needed", _I), ("approvers", _S), ("reason", _S)]),
    "aliases": pa.schema([("model", _S), ("alias", _S), ("version", _I), ("since", _TS), ("by", _S)]),
    "spans": pa.schema([("model", _S), ("stage", _S), ("version", _I), ("start", _TS), ("end", _TS),
                        ("by", _S)]),
    "headline": pa.schema([("model", _S), ("version", _I), ("metric", _S), ("dataset", _S), ("slice", _S),
                           ("value", pa.float64())]),
}


def events_from_table(table: pa.Table) -> dict[str, list[Event]]:
    """Group the index's event rows back into Event records, per model."""
    by_model: dict[str, list[Event]] = {}
    for row in table.to_pylist():
        by_model.setdefault(row["model"], []).append(Event(
            id=row["id"], at=row["at"], by=row["by"], model=row["model"], action=row["action"],
            version=row["version"], stage=row["stage"], reason=row["reason"], request=row["request"],
            gates=tuple(json.loads(row["gates"])) if row["gates"] else (), forced=bool(row["forced"]),
            rollback_of=row["rollback_of"], alias=row["alias"], approvals_needed=row["approvals_needed"],
        ))
    return by_model


def needed_approvals(settings: Settings, model_policies: str | None) -> dict[str, int]:
    """Approvals needed per stage for one model (its model.yaml overrides the catalog's policy)."""
    policies = dict(settings.policies)
    if model_policies:
        try:
            policies.update(parse_policies(json.loads(model_policies), "model.yaml"))
        except InvalidInput:
            pass
    return {stage: policy.approvals for stage, policy in policies.items()}


def derive_tables(folder: Path, tables: dict[str, pa.Table], segments: list[str], settings: Settings) -> None:
    model_policies = dict(zip(tables["models"]["model"].to_pylist(), tables["models"]["policies"].to_pylist()))
    rows: dict[str, list[dict]] = {name: [] for name in DERIVED if name != "headline"}
    existing: dict[str, set[int]] = {}
    for model, version in zip(tables["versions"]["model"].to_pylist(), tables["versions"]["version"].to_pylist()):
        existing.setdefault(model, set()).add(version)
    for model, events in events_from_table(tables["events"]).items():
        # Events naming versions that do not exist (validate reports them) cannot move stages.
        events = [e for e in events if e.version is None or e.version in existing.get(model, set())]
        state = replay(model, events, settings, needed_approvals(settings, model_policies.get(model)))
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
    for name, found in rows.items():
        pq.write_table(pa.Table.from_pylist(found, schema=DERIVED[name]), folder / f"{name}.parquet")
    if segments:
        con = duckdb.connect()
        headline = con.sql(HEADLINE_SQL, params={"segments": [str(folder / s) for s in segments]}).to_arrow_table()
        con.close()
        headline = headline.cast(DERIVED["headline"])
    else:
        headline = DERIVED["headline"].empty_table()
    pq.write_table(headline, folder / "headline.parquet", compression="zstd")
