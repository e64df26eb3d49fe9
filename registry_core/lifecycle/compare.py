"""Side-by-side comparison of versions: best per metric, deltas to a baseline, differing params."""

from __future__ import annotations

from dataclasses import dataclass, field

from registry_core.format.settings import Settings


@dataclass
class Comparison:
    refs: list[str]
    rows: list[dict] = field(default_factory=list)  # metric, dataset, slice, goal, values, best, deltas
    params: list[dict] = field(default_factory=list)  # name, values, differs

    @property
    def differing_params(self) -> list[dict]:
        return [p for p in self.params if p["differs"]]

    def to_dict(self) -> dict:
        return {"refs": self.refs, "metrics": self.rows, "params": self.differing_params}


def compare_versions(keys: list[tuple[str, int]], headline: list[dict], params: list[dict],
                     settings: Settings) -> Comparison:
    """Build the comparison; the first version is the baseline for deltas."""
    refs = [f"{m}@{v}" for m, v in keys]
    comparison = Comparison(refs)
    series: dict[tuple, dict[str, float]] = {}
    for row in headline:
        key = (row["metric"], row["dataset"], row["slice"])
        series.setdefault(key, {})[f"{row['model']}@{row['version']}"] = row["value"]
    for (metric, dataset, slice_), values in sorted(series.items(), key=lambda kv: tuple(x or "" for x in kv[0])):
        goal = settings.goal(metric)
        ordered = {ref: values.get(ref) for ref in refs}
        present = {ref: v for ref, v in ordered.items() if v is not None}
        best_value = (max if goal == "max" else min)(present.values())
        base = ordered[refs[0]]
        comparison.rows.append({
            "metric": metric, "dataset": dataset, "slice": slice_, "goal": goal, "unit": settings.unit(metric),
            "values": ordered,
            "best": [ref for ref, v in present.items() if v == best_value] if len(present) > 1 else [],
            "deltas": {ref: (None if v is None or base is None else v - base) for ref, v in ordered.items()},
        })
    by_name: dict[str, dict[str, str]] = {}
    for row in params:
        by_name.setdefault(row["name"], {})[f"{row['model']}@{row['version']}"] = row["value"]
    for name in sorted(by_name):
        values = {ref: by_name[name].get(ref) for ref in refs}
        comparison.params.append({"name": name, "values": values, "differs": len(set(values.values())) > 1})
    return comparison


def pareto_front(points: dict[str, tuple[float, float]], goals: tuple[str, str]) -> list[str]:
    """Keys of the points no other point beats on both axes, ordered along the first axis.

    ``goals`` gives each axis' direction (``"max"`` or ``"min"``); a point is dominated when
    another is at least as good on both axes and strictly better on one.
    """
    signs = tuple(1.0 if goal == "max" else -1.0 for goal in goals)
    scored = {key: (x * signs[0], y * signs[1]) for key, (x, y) in points.items()}
    front = [key for key, (x, y) in scored.items()
             if not any(ox >= x and oy >= y and (ox > x or oy > y) for ox, oy in scored.values())]
    return sorted(front, key=lambda key: (points[key][0], points[key][1]))


def default_versions(versions: list[dict], stages: tuple[str, ...] = ("production", "staging")) -> list[int]:
    """What to compare when nobody said: the holders of ``stages`` (newest first), then the newest version.

    ``versions`` are ``Catalog.versions()`` rows (``version`` and ``stage``).
    """
    picked: list[int] = []
    for stage in stages:
        holders = sorted((r["version"] for r in versions if r["stage"] == stage), reverse=True)
        picked.extend(v for v in holders[:1] if v not in picked)
    newest = max((r["version"] for r in versions), default=None)
    if newest is not None and newest not in picked:
        picked.append(newest)
    return picked


def primary_metric(settings: Settings, keys: list[str]) -> str | None:
    """The one headline series to show for a model: declared metrics first (registry.yaml order),
    then the ``test`` dataset itself, then other ``test...`` datasets (``test-shifted``), then the
    rest; unsliced before sliced; else alphabetically.  ``keys`` are ``metric[dataset|slice]``."""
    if not keys:
        return None
    declared = list(settings.metrics)

    def rank(key: str) -> tuple:
        metric, _, rest = key.partition("[")
        dataset, _, slice_ = rest.rstrip("]").partition("|")
        order = declared.index(metric) if metric in declared else len(declared)
        on_test = 0 if dataset == "test" else 1 if dataset.startswith("test") else 2
        return order, on_test, bool(slice_), key

    return min(keys, key=rank)


def compare_with(versions: list[dict], number: int, stages: tuple[str, ...] = ("production", "staging")) -> list[int]:
    """What "Compare →" from version ``number`` puts next to it: the other holders of ``stages``, else
    the newest versions, so a production version is never compared with itself alone.

    ``versions`` are ``Catalog.versions()`` rows, newest first or not.
    """
    others = [n for n in default_versions(versions, stages) if n != number]
    if not others:
        others = sorted((r["version"] for r in versions if r["version"] != number), reverse=True)[:2]
    return [number, *others]


IDENTIFIER_PARAMS = ("seed", "random_state", "run_id", "id")


def tunable_params(names: list[str]) -> list[str]:
    """Params worth an axis against a metric: not the ones that only identify a run (a seed)."""
    return [n for n in names if not any(n == p or n.endswith(("_" + p, "." + p)) for p in IDENTIFIER_PARAMS)]


def default_bars(keys: list[str], first: str | None, limit: int = 6) -> list[str]:
    """The bar charts Compare opens with: the headline first, then unsliced series not measured on training
    data (a train metric says little about the model and dwarfs the others)."""
    def on_train(key: str) -> bool:
        return key.partition("[")[2].rstrip("]").startswith("train")

    rest = [k for k in keys if k != first and "|" not in k and not on_train(k)]
    return [k for k in [first, *rest] if k is not None][:limit]
