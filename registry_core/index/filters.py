"""Filters on a model's versions by metric and param values, as one SQL query over the public views.

``roc_auc[test] > 0.9 and optimizer = adam``: clauses joined by ``and``; each names a headline
series (``metric[dataset|slice]``) or a param, an operator (``= != > >= < <=``) and a value.  A bare
name matches an unsliced, dataset-less metric or a param of that name.  Operators come from a fixed
table and values are bound as parameters, so no text of the filter reaches the SQL itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry_core.errors import InvalidInput

OPERATORS = {"=": "=", "==": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_CLAUSE = re.compile(r"^\s*(?P<name>[A-Za-z0-9_.:/\-]+(?:\[[^\]]*\])?)\s*"
                     r"(?P<op>==|!=|>=|<=|=|>|<)\s*(?P<value>.+?)\s*$")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    metric: str
    dataset: str
    slice: str
    bracketed: bool
    op: str
    text: str
    number: float | None


def parse(expression: str) -> list[Clause]:
    """The clauses of a filter; a clause that does not parse is refused naming it."""
    clauses = []
    for part in _AND.split(expression.strip()):
        if not part.strip():
            continue
        found = _CLAUSE.match(part)
        if not found:
            raise InvalidInput(f"filter: cannot read {part.strip()!r}; write e.g. 'roc_auc[test] > 0.9' or "
                               "'optimizer = adam' (operators = != > >= < <=, joined by 'and')")
        name, op, text = found["name"], found["op"], found["value"].strip().strip("'\"")
        metric, _, rest = name.partition("[")
        dataset, _, slice_ = rest.rstrip("]").partition("|")
        try:
            number: float | None = float(text)
        except ValueError:
            number = None
        if number is None and op not in ("=", "==", "!="):
            raise InvalidInput(f"filter: {part.strip()!r} compares with {op} but {text!r} is not a number")
        clauses.append(Clause(metric, dataset, slice_, "[" in name, OPERATORS[op], text, number))
    return clauses


def to_sql(model: str, clauses: list[Clause]) -> tuple[str, dict]:
    """``SELECT version FROM versions`` of ``model`` matching every clause, with its parameters."""
    where = ["v.model = $model"]
    params: dict = {"model": model}
    for n, c in enumerate(clauses):
        params[f"m{n}"] = c.metric
        tests = []
        if c.number is not None:
            params.update({f"d{n}": c.dataset, f"s{n}": c.slice, f"x{n}": c.number})
            tests.append(f"""EXISTS (SELECT 1 FROM headline h WHERE h.model = v.model AND h.version = v.version
                             AND h.metric = $m{n} AND coalesce(h.dataset, '') = $d{n}
                             AND coalesce(h.slice, '') = $s{n} AND h.value {c.op} $x{n})""")
        if not c.bracketed:
            if c.number is None:
                params[f"t{n}"] = c.text
            value = f"TRY_CAST(p.value AS DOUBLE) {c.op} $x{n}" if c.number is not None else f"p.value {c.op} $t{n}"
            tests.append(f"""EXISTS (SELECT 1 FROM params p WHERE p.model = v.model AND p.version = v.version
                             AND p.name = $m{n} AND {value})""")
        where.append("(" + " OR ".join(tests or ["false"]) + ")")
    return f"SELECT v.version FROM versions v WHERE {' AND '.join(where)} ORDER BY v.version DESC", params
