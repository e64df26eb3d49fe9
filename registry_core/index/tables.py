"""The index's tables and their Arrow schemas: the rows read from YAML files, from metric tables, and
the problems found in files."""

from __future__ import annotations

import pyarrow as pa

from registry_core.format.metrics import SCHEMA as METRIC_SCHEMA

Problem = tuple[str, str, str]  # (path, severity, message)

_S, _I, _B, _TS = pa.string(), pa.int64(), pa.bool_(), pa.timestamp("us", tz="UTC")
SCHEMAS: dict[str, pa.Schema] = {
    "models": pa.schema([("model", _S), ("description", _S), ("owner", _S), ("task", _S), ("tags", _S),
                         ("policies", _S), ("_source", _S)]),
    "versions": pa.schema([("model", _S), ("version", _I), ("created_at", _TS), ("created_by", _S),
                           ("description", _S), ("framework", _S), ("task", _S), ("params", _S), ("tags", _S),
                           ("path", _S), ("manifest", _S), ("_source", _S)]),
    "params": pa.schema([("model", _S), ("version", _I), ("name", _S), ("value", _S), ("_source", _S)]),
    "lineage": pa.schema([("model", _S), ("version", _I), ("kind", _S), ("name", _S), ("ref", _S), ("role", _S),
                          ("sha256", _S), ("_source", _S)]),
    "events": pa.schema([("id", _S), ("at", _TS), ("by", _S), ("model", _S), ("action", _S), ("version", _I),
                         ("stage", _S), ("reason", _S), ("request", _S), ("forced", _B), ("rollback_of", _I),
                         ("alias", _S), ("approvals_needed", _I), ("gates", _S), ("description", _S),
                         ("tags", _S), ("remove", _S), ("_source", _S)]),
    "file_problems": pa.schema([("path", _S), ("severity", _S), ("message", _S), ("_source", _S)]),
    "metrics": pa.schema([("model", _S), ("version", _I), *zip(METRIC_SCHEMA.names, METRIC_SCHEMA.types),
                          ("_source", _S)]),
}
