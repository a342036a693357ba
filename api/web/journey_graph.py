"""A picture of a journey: its YAML steps as an SVG graph, laid out top-down, no JS needed.

The reader is tolerant about the YAML shape: `steps` as a list or a mapping, each step with an
`id` (or `name`) and edges from `next`, `then`/`else`, `goto`, or a mapping of branches
(`branches`, `on`, `routes`, `outcomes`). A step without edges flows into the next one listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from markupsafe import Markup, escape

__all__ = ["Graph", "parse_graph", "render_svg"]

_BRANCH_KEYS = ("branches", "on", "routes", "outcomes", "cases")
_RULE_KEYS = ("rules", "when", "conditions")
_OPS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "in"}
_SINGLE_KEYS = ("next", "then", "else", "goto", "on_true", "on_false", "if_true", "if_false",
                "timeout", "on_timeout")  # fmt: skip
_TERMINAL = {"end", "exit", "stop", "finish"}
BOX_W, BOX_H, GAP_X, GAP_Y = 220, 46, 36, 64
SIDE = 90  # room on each side for edges that skip a layer or loop back


@dataclass
class Graph:
    nodes: dict[str, str]  # id -> label (type)
    edges: list[tuple[str, str, str]]  # (from, to, label)
    error: str | None = None


def _targets(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v.get("to") or v.get("next") or v.get("step"))
                for v in value if isinstance(v, str | dict)]  # fmt: skip
    if isinstance(value, dict) and ("to" in value or "step" in value):
        return [str(value.get("to") or value.get("step"))]
    return []


def _rule_label(when: Any) -> str:
    """`profile.computed.open_cart.value gte 50` -> `open_cart.value ≥ 50`."""
    if not isinstance(when, dict) or "field" not in when:
        return "if"
    field = ".".join(str(when["field"]).split(".")[-2:])
    op = _OPS.get(str(when.get("op", "eq")), str(when.get("op")))
    return f"{field} exists" if op == "exists" else f"{field} {op} {when.get('value')}"


def _steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    raw = doc.get("steps") or doc.get("nodes") or []
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(raw, dict):
        for key, step in raw.items():
            out.append((str(key), step if isinstance(step, dict) else {"type": str(step)}))
    elif isinstance(raw, list):
        for i, step in enumerate(raw):
            if isinstance(step, dict):
                out.append((str(step.get("id") or step.get("name") or f"step{i + 1}"), step))
            else:
                out.append((str(step), {}))
    return out


def parse_graph(definition: str) -> Graph:
    """Nodes and edges of a journey definition; an unreadable one gives an empty graph + error."""
    try:
        doc = yaml.safe_load(definition)
    except yaml.YAMLError as exc:
        return Graph({}, [], f"the YAML does not parse: {exc}")
    if not isinstance(doc, dict):
        return Graph({}, [], "the definition is not a mapping")
    steps = _steps(doc)
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    trigger = doc.get("trigger") or doc.get("triggers")
    if trigger:
        name = trigger if isinstance(trigger, str) else (
            trigger.get("name") or trigger.get("event") or trigger.get("type")
            if isinstance(trigger, dict) else "trigger")  # fmt: skip
        nodes["__trigger__"] = f"trigger: {name}"
        if steps:
            edges.append(("__trigger__", steps[0][0], ""))
    for index, (sid, step) in enumerate(steps):
        kind = step.get("type") or step.get("kind") or step.get("action") or ""
        extra = step.get("channels") or step.get("channel") or step.get("duration")
        if isinstance(extra, list):
            extra = ", ".join(str(e) for e in extra)
        detail = f"{kind}: {extra}" if kind and extra else str(kind or extra or "")
        nodes[sid] = f"{sid} ({detail})" if detail and detail != sid else sid
        found = False
        for key in _SINGLE_KEYS:
            for target in _targets(step.get(key)):
                edges.append((sid, target, "" if key == "next" else key))
                found = True
        for key in _RULE_KEYS:
            for rule in step.get(key) or [] if isinstance(step.get(key), list) else []:
                if isinstance(rule, dict) and (rule.get("goto") or rule.get("next")):
                    target = str(rule.get("goto") or rule.get("next"))
                    edges.append((sid, target, _rule_label(rule.get("when", rule))))
                    found = True
        if step.get("default"):
            edges.append((sid, str(step["default"]), "otherwise"))
            found = True
        for key in _BRANCH_KEYS:
            branches = step.get(key)
            if isinstance(branches, dict):
                for label, target in branches.items():
                    for t in _targets(target):
                        edges.append((sid, t, str(label)))
                        found = True
        if not found and str(kind) not in _TERMINAL and index + 1 < len(steps):
            edges.append((sid, steps[index + 1][0], ""))
    for _, target, _ in edges:
        nodes.setdefault(target, target)
    return Graph(nodes, edges)


def _layers(graph: Graph) -> dict[str, int]:
    """Longest-path layering from the roots, ignoring edges that close a cycle."""
    order = list(graph.nodes)
    incoming = {n: 0 for n in order}
    for a, b, _ in graph.edges:
        if a != b:
            incoming[b] = incoming.get(b, 0) + 1
    layer = {n: 0 for n in order}
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str, depth: int) -> None:
        if node in visiting:
            return  # a loop back to an earlier step: drawn, but not used for layering
        if node in done and layer[node] >= depth:
            return
        layer[node] = max(layer[node], depth)
        visiting.add(node)
        for a, b, _ in graph.edges:
            if a == node and b != node:
                visit(b, depth + 1)
        visiting.discard(node)
        done.add(node)

    roots = [n for n in order if incoming.get(n, 0) == 0] or order[:1]
    for root in roots:
        visit(root, 0)
    return layer


def render_svg(graph: Graph, title: str) -> Markup:
    """An accessible SVG (role=img, <title>, a text list of edges for screen readers)."""
    if not graph.nodes:
        return Markup("")
    layer = _layers(graph)
    rows: dict[int, list[str]] = {}
    for node in graph.nodes:
        rows.setdefault(layer[node], []).append(node)
    widest = max(len(r) for r in rows.values())
    width = widest * (BOX_W + GAP_X) + GAP_X + 2 * SIDE
    height = (max(rows) + 1) * (BOX_H + GAP_Y) + GAP_Y // 2
    pos: dict[str, tuple[float, float]] = {}
    for depth, names in rows.items():
        offset = (width - len(names) * (BOX_W + GAP_X) + GAP_X) / 2
        for i, name in enumerate(names):
            pos[name] = (offset + i * (BOX_W + GAP_X), GAP_Y / 2 + depth * (BOX_H + GAP_Y))
    parts = [
        f'<svg class="journey-graph" role="img" aria-labelledby="jg-title" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="jg-title">{escape(title)}</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#57606a"/></marker></defs>',
    ]
    for a, b, label in graph.edges:
        (ax, ay), (bx, by) = pos[a], pos[b]
        x1, y1 = ax + BOX_W / 2, ay + BOX_H
        x2, y2 = bx + BOX_W / 2, by
        back = by <= ay
        skips = by - ay > BOX_H + GAP_Y and abs(bx - ax) < BOX_W
        if back:  # loop back up: curve round the right-hand side
            x1, y1, x2, y2 = ax + BOX_W, ay + BOX_H / 2, bx + BOX_W, by + BOX_H / 2
            d = f"M{x1},{y1} C{x1 + 80},{y1} {x2 + 80},{y2} {x2},{y2}"
        elif skips:  # jumps over the steps between: curve round the left-hand side
            x1, y1, x2, y2 = ax, ay + BOX_H / 2, bx, by + BOX_H / 2
            d = f"M{x1},{y1} C{x1 - 80},{y1} {x2 - 80},{y2} {x2},{y2}"
        else:
            d = f"M{x1},{y1} C{x1},{(y1 + y2) / 2} {x2},{(y1 + y2) / 2} {x2},{y2}"
        parts.append(f'<path d="{d}" fill="none" stroke="#57606a" stroke-width="1.5" '
                     'marker-end="url(#arrow)"/>')  # fmt: skip
        if label:
            lx, ly = (x1 + x2) / 2 + 4, (y1 + y2) / 2
            if skips:
                lx -= 70
            elif back:
                lx += 62
            parts.append(f'<text x="{lx:.0f}" y="{ly:.0f}" font-size="11" fill="#57606a">'
                         f"{escape(label)}</text>")  # fmt: skip
    for name, (x, y) in pos.items():
        is_trigger = name == "__trigger__"
        fill = "#dbeafe" if is_trigger else "#ffffff"
        text = graph.nodes[name]
        short = text if len(text) <= 31 else text[:30] + "…"
        parts.append(
            f'<g><rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
            f'fill="{fill}" stroke="#0b5fff" stroke-width="1.5"/>'
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + BOX_H / 2 + 4:.0f}" font-size="13" '
            f'text-anchor="middle" fill="#1b1f24"><title>{escape(text)}</title>'
            f"{escape(short)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
