"""Plotly figures.  Each version keeps one colour in every chart (by its number); stages keep the core's colours.

Figures are built from values the core computed (best, Pareto front, spans);
nothing here decides which version is better.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from registry_core.integrations.lineage_dot import stage_color

PALETTE = qualitative.Plotly + qualitative.D3 + qualitative.Set2
# Compare's cells: translucent fills keep the theme's own text colour readable, light or dark
BEST_CELL = "background-color: rgba(67, 160, 71, 0.35); font-weight: bold"
BETTER, WORSE = "color: #43a047", "color: #e53935"
MARKED_STEPS = 30  # curves longer than this are drawn without a marker per step
LAYOUT = {"template": "plotly_white", "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend_title_text": ""}


def version_color(version: int) -> str:
    """The colour of ``vN`` in every chart of the dashboard."""
    return PALETTE[(int(version) - 1) % len(PALETTE)]


def bars(rows: list[dict], refs: list[str], labels: dict[str, str]) -> go.Figure:
    """One small bar chart per headline metric, versions side by side, the best outlined.

    ``rows`` are ``Comparison.rows`` (the core marks ``best``); ``labels`` maps a metric key to its title.
    """
    cols = min(3, max(1, len(rows)))
    nrows = math.ceil(len(rows) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=[labels[r["key"]] for r in rows],
                        vertical_spacing=min(0.25, 0.6 / max(nrows, 1)), horizontal_spacing=0.08)
    for i, row in enumerate(rows):
        present = [ref for ref in refs if row["values"].get(ref) is not None]
        fig.add_trace(go.Bar(
            x=[f"v{ref.rsplit('@', 1)[1]}" for ref in present],
            y=[row["values"][ref] for ref in present],
            marker={"color": [version_color(int(ref.rsplit("@", 1)[1])) for ref in present],
                    "line": {"color": ["#111" if ref in row["best"] else "rgba(0,0,0,0)" for ref in present],
                             "width": 3}},
            text=[("★ " if ref in row["best"] else "") + f"{row['values'][ref]:.4g}" for ref in present],
            textposition="outside", cliponaxis=False, showlegend=False,
            hovertemplate="%{x}: %{y:.6g}<extra>" + labels[row["key"]] + "</extra>",
        ), row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(**LAYOUT, height=260 * nrows, bargap=0.35)
    fig.update_yaxes(rangemode="tozero")
    return fig


def curves(frame: pd.DataFrame, title: str) -> go.Figure:
    """Training curves of one metric, one line per version (and dataset), in the versions' colours."""
    fig = go.Figure()
    dashes = ["solid", "dash", "dot", "dashdot"]
    datasets = sorted({d for d in frame["dataset"].fillna("")})
    for (number, dataset), part in frame.groupby(["version", frame["dataset"].fillna("")], sort=True):
        name = f"v{number}" + (f" {dataset}" if dataset else "")
        # a marker per step only on short curves: hundreds of them cost the browser more than they show
        mode = "lines+markers" if len(part) <= MARKED_STEPS else "lines"
        fig.add_trace(go.Scatter(x=part["step"], y=part["value"], mode=mode, name=name,
                                 line={"color": version_color(number),
                                       "dash": dashes[datasets.index(dataset) % len(dashes)]},
                                 marker={"size": 4}))
    fig.update_layout(**LAYOUT, height=360, title=title, xaxis_title="step", yaxis_title=title)
    return fig


def tradeoff(points: pd.DataFrame, front: list[int], selected: list[int], x_title: str, y_title: str) -> go.Figure:
    """Every version as a point on two metrics; the core's Pareto front joined by a line; picked ones ringed.

    ``points`` has columns version, stage, x, y.
    """
    fig = go.Figure()
    others = points[~points["version"].isin(selected)]
    fig.add_trace(go.Scatter(
        x=others["x"], y=others["y"], mode="markers", name="other versions",
        marker={"color": "#b0bec5", "size": 9}, text=[f"v{v} ({s})" for v, s in zip(others["version"],
                                                                                   others["stage"])],
        hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}<extra></extra>"))
    on_front = points.set_index("version").loc[front].reset_index() if front else points.iloc[0:0]
    fig.add_trace(go.Scatter(x=on_front["x"], y=on_front["y"], mode="lines", name="Pareto front",
                             line={"color": "#37474f", "dash": "dash", "shape": "hv"}, hoverinfo="skip"))
    picked = points[points["version"].isin(selected)]
    fig.add_trace(go.Scatter(
        x=picked["x"], y=picked["y"], mode="markers+text", name="compared",
        text=[f"v{v}" for v in picked["version"]], textposition="top center",
        marker={"color": [version_color(v) for v in picked["version"]], "size": 14,
                "line": {"color": "#111", "width": 1.5}},
        hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}<extra></extra>"))
    fig.update_layout(**LAYOUT, height=420, xaxis_title=x_title, yaxis_title=y_title)
    return fig


def parallel(frame: pd.DataFrame, metric: str, title: str) -> go.Figure:
    """Parallel coordinates: numeric params (one axis each) coloured by a metric."""
    dims = [{"label": column if len(column) <= 14 else column[:13] + "…", "values": frame[column]}
            for column in frame.columns if column != metric]
    dims.append({"label": title, "values": frame[metric]})
    fig = go.Figure(go.Parcoords(labelangle=-15, dimensions=dims,
                                 line={"color": frame[metric], "colorscale": "Viridis", "showscale": True,
                                       "colorbar": {"title": {"text": title}}}))
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 60, "t": 50, "b": 20}, height=400)
    return fig


def trend(frame: pd.DataFrame, title: str) -> go.Figure:
    """A metric across versions (columns version, stage, value), points coloured by stage."""
    fig = go.Figure(go.Scatter(
        x=frame["version"], y=frame["value"], mode="lines+markers", line={"color": "#90a4ae"},
        marker={"color": [stage_color(s) for s in frame["stage"]], "size": 10},
        text=[f"v{v} ({s})" for v, s in zip(frame["version"], frame["stage"])],
        hovertemplate="%{text}: %{y:.6g}<extra></extra>", showlegend=False))
    fig.update_layout(**LAYOUT, height=280, xaxis_title="version", yaxis_title=title)
    fig.update_xaxes(tickformat="d", dtick=1 if len(frame) <= 25 else None)
    return fig


def lanes(spans: list[dict], stages: list[str], now: dt.datetime) -> tuple[list[str], list[str]]:
    """A row label for each span, so that holders of a stage at the same time get their own lanes
    (staging may hold several versions at once), and every label in display order.

    A span takes the first lane of its stage that is free when it starts: ``staging``, ``staging (2)``...
    """
    ends: dict[str, list[dt.datetime]] = {}
    labels: list[str] = [""] * len(spans)
    for i in sorted(range(len(spans)), key=lambda i: spans[i]["start"]):
        span = spans[i]
        taken = ends.setdefault(span["stage"], [])
        lane = next((n for n, end in enumerate(taken) if end <= span["start"]), len(taken))
        if lane == len(taken):
            taken.append(span["end"] or now)
        else:
            taken[lane] = span["end"] or now
        labels[i] = span["stage"] if lane == 0 else f"{span['stage']} ({lane + 1})"
    order = [s if n == 0 else f"{s} ({n + 1})" for s in stages for n in range(len(ends.get(s, [None])))]
    return labels, order


def event_window(times: list[dt.datetime]) -> list[dt.datetime] | None:
    """The x range around the events with a margin: current holders run to now and would squeeze the history."""
    if not times:
        return None
    first, last = min(times), max(times)
    margin = max((last - first) * 0.05, dt.timedelta(hours=12))
    return [first - margin, last + margin]


def timeline(spans: list[dict], promotions: list[dict], monitoring: pd.DataFrame, stages: list[str],
             now: dt.datetime) -> go.Figure:
    """Which version held each stage when (bars, one lane per overlapping holder), monitoring metrics over
    time below, promotions as lines; zoomed to the events (drag or double-click to see up to now)."""
    has_monitoring = not monitoring.empty
    labels, order = lanes(spans, stages, now)
    fig = make_subplots(rows=2 if has_monitoring else 1, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.45, 0.55] if has_monitoring else None)
    shown: set[int] = set()
    for span, lane in zip(spans, labels):
        end = span["end"] or now
        fig.add_trace(go.Bar(
            y=[lane], x=[(end - span["start"]).total_seconds() * 1000], base=[span["start"]],
            orientation="h", name=f"v{span['version']}", legendgroup=f"v{span['version']}",
            showlegend=span["version"] not in shown and len(spans) <= 40,
            marker={"color": version_color(span["version"])},
            text=f"v{span['version']}", textposition="inside", insidetextanchor="middle",
            hovertemplate=f"v{span['version']} in {span['stage']}<br>from {span['start']:%Y-%m-%d %H:%M}"
                          f"<br>until {'now' if span['end'] is None else format(span['end'], '%Y-%m-%d %H:%M')}"
                          "<extra></extra>"), row=1, col=1)
        shown.add(span["version"])
    if has_monitoring:
        for (number, metric, dataset), part in monitoring.groupby(
                ["version", "metric", monitoring["dataset"].fillna("")], sort=True):
            fig.add_trace(go.Scatter(
                x=part["timestamp"], y=part["value"], mode="lines+markers",
                name=f"v{number} {metric}" + (f"[{dataset}]" if dataset else ""), legendgroup=f"v{number}",
                line={"color": version_color(number)}), row=2, col=1)
    # one layout update for every line (add_vline per event re-validates all shapes: quadratic)
    fig.update_layout(shapes=[{"type": "line", "xref": "x", "yref": "paper", "x0": e["at"], "x1": e["at"], "y0": 0,
                               "y1": 1, "line": {"color": stage_color(e["stage"]), "width": 1, "dash": "dot"}}
                              for e in promotions])
    fig.add_trace(go.Scatter(
        x=[e["at"] for e in promotions], y=[e["stage"] for e in promotions], mode="markers", name="promotion",
        marker={"symbol": "triangle-down", "size": 11, "color": [stage_color(e["stage"]) for e in promotions],
                "line": {"color": "#111", "width": 1}},
        text=[e["label"] for e in promotions], hovertemplate="%{text}<extra></extra>"), row=1, col=1)
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(order)), row=1, col=1)
    fig.update_xaxes(type="date", range=event_window([e["at"] for e in promotions] + [s["start"] for s in spans]))
    bars_height = 80 + 30 * len(order)
    fig.update_layout(**LAYOUT, barmode="overlay",
                      height=bars_height + (280 if has_monitoring else 0))
    return fig
