"""Lineage as a Graphviz DOT graph (drawn by the dashboard in the browser, or by `dot`)."""

from __future__ import annotations

STAGE_COLORS = {
    "production": "#2e7d32", "staging": "#f9a825", "archived": "#9e9e9e", "none": "#90a4ae",
}


def stage_color(stage: str) -> str:
    return STAGE_COLORS.get(stage, "#5c6bc0")


def _q(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(info: dict, parent_stages: dict[str, str] | None = None) -> str:
    """DOT for one version's lineage: datasets and parents upstream, children downstream.

    ``parent_stages`` (ref -> stage) colours the parents too; children carry their stage already.
    """
    me = info["ref"]
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];',
             f"  {_q(me)} [shape=box, style=\"filled,bold\", fillcolor={_q(stage_color(info['stage']))}, "
             f"fontcolor=white, label={_q(me + '|' + info['stage']).replace('|', chr(92) + 'n')}];"]
    for dataset in info["datasets"]:
        node = "dataset:" + dataset["ref"]
        lines.append(f"  {_q(node)} [shape=cylinder, label={_q(dataset['ref'])}];")
        lines.append(f"  {_q(node)} -> {_q(me)} [label={_q(dataset.get('role') or '')}];")
    for parent in info["parents"]:
        stage = (parent_stages or {}).get(parent)
        style = f", style=filled, fillcolor={_q(stage_color(stage))}, fontcolor=white" if stage else ""
        lines.append(f"  {_q(parent)} [shape=box{style}];")
        lines.append(f"  {_q(parent)} -> {_q(me)} [label=\"parent\"];")
    for child in info["children"]:
        lines.append(f"  {_q(child['ref'])} [shape=box, style=filled, fillcolor={_q(stage_color(child['stage']))}];")
        lines.append(f"  {_q(me)} -> {_q(child['ref'])} [label=\"child\"];")
    lines.append("}")
    return "\n".join(lines)
