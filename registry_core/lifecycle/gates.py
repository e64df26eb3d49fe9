"""Gate evaluation: one version's metrics against a policy's gates.

Pure functions: the caller passes the headline metrics, the baseline
versions' metrics and the manifest facts, and gets one result per gate,
each with its value, baseline and a message a person can act on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from registry_core.format.settings import Gate, Settings

# (metric, dataset, slice) -> value
Headline = dict[tuple[str, str | None, str | None], float]


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    value: float | None
    baseline: float | None
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def pick(headline: Headline, metric: str, dataset: str | None, slice_: str | None) -> tuple[float | None, str]:
    """The value a gate means; without a dataset, the metric's dataset-less value or its only one."""
    if dataset is not None:
        value = headline.get((metric, dataset, slice_))
        return value, "" if value is not None else f"no value for {metric} on {dataset}"
    if (metric, None, slice_) in headline:
        return headline[(metric, None, slice_)], ""
    found = sorted((d or "", v) for (m, d, s), v in headline.items() if m == metric and s == slice_)
    if len(found) == 1:
        return found[0][1], ""
    if not found:
        return None, f"no value for {metric}"
    return None, f"{metric} exists for several datasets ({', '.join(d for d, _ in found)}); the gate must name one"


def evaluate(gates: tuple[Gate, ...], headline: Headline, settings: Settings,
             baseline_for: Callable[[str], tuple[int | None, Headline]],
             checks: dict[str, tuple[bool, str]]) -> list[GateResult]:
    """Evaluate ``gates``; ``baseline_for(stage)`` gives the holder and its headline for ``vs`` gates."""
    results = []
    for gate in gates:
        label = gate.label()
        if gate.check:
            passed, message = checks[gate.check]
            results.append(GateResult(label, passed, None, None, message))
            continue
        value, missing = pick(headline, gate.metric, gate.dataset, gate.slice)
        unit = settings.unit(gate.metric)
        if value is None:
            results.append(GateResult(label, False, None, None, missing))
            continue
        if gate.vs:
            holder, base_headline = baseline_for(gate.vs)
            if holder is None:
                results.append(GateResult(label, True, value, None, f"no version in {gate.vs} to compare with"))
                continue
            baseline, base_missing = pick(base_headline, gate.metric, gate.dataset, gate.slice)
            if baseline is None:
                results.append(GateResult(label, True, value, None,
                                          f"{gate.vs} holder v{holder} has no value to compare with ({base_missing})"))
                continue
            goal = settings.goal(gate.metric)
            limit = baseline - gate.tolerance if goal == "max" else baseline + gate.tolerance
            passed = value >= limit if goal == "max" else value <= limit
            if passed:
                word = ">=" if goal == "max" else "<="
            else:
                word = "is below the required" if goal == "max" else "is above the allowed"
            message = (f"{value:.6g}{unit} {word} {limit:.6g}{unit} ({gate.vs} v{holder}: {baseline:.6g}{unit}"
                       f", tolerance {gate.tolerance:g})")
            results.append(GateResult(label, passed, value, baseline, message))
            continue
        problems = []
        if gate.min is not None and value < gate.min:
            problems.append(f"{value:.6g}{unit} is below the minimum {gate.min:g}{unit}")
        if gate.max is not None and value > gate.max:
            problems.append(f"{value:.6g}{unit} is above the maximum {gate.max:g}{unit}")
        baseline = gate.min if gate.min is not None else gate.max
        message = "; ".join(problems) if problems else f"{value:.6g}{unit} is within bounds"
        results.append(GateResult(label, not problems, value, baseline, message))
    return results
