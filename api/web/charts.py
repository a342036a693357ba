"""Plotly figure specs (plain dicts) for the dashboard; plotly.js draws them in the browser."""

from __future__ import annotations

from typing import Any

from api.web.insights import Insights

__all__ = ["figures"]

COLOURS = {"triggers": "#6366f1", "decisions": "#0b5fff", "sends": "#1a7f37", "blocks": "#c21d1d"}
_LAYOUT: dict[str, Any] = {
    "margin": {"l": 50, "r": 20, "t": 40, "b": 50},
    "height": 320,
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "legend": {"orientation": "h", "y": -0.2},
}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {**_LAYOUT, "title": {"text": title, "font": {"size": 15}}, **extra}


def figures(data: Insights) -> list[dict[str, Any]]:
    """One dict per chart: id, title, `empty` (a note when nothing to draw), data, layout."""
    x = [d.isoformat() for d in data.days]
    out: list[dict[str, Any]] = []
    activity = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": x,
            "y": ys,
            "line": {"color": COLOURS[name]},
        }
        for name, ys in data.activity.items()
    ]
    out.append(
        {
            "id": "activity",
            "title": "Triggers, decisions, sends and blocks per day",
            "empty": None
            if any(sum(ys) for ys in data.activity.values())
            else "No activity in the last 30 days.",
            "data": activity,
            "layout": _layout("Per day (UTC)", yaxis={"rangemode": "tozero"}),
        }
    )
    reasons = data.block_reasons
    out.append(
        {
            "id": "blocks",
            "title": "Guardrail blocks by reason",
            "empty": None if reasons else "No guardrail has blocked anything in the last 30 days.",
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": [n for _, n in reasons][::-1],
                    "y": [r for r, _ in reasons][::-1],
                    "marker": {"color": COLOURS["blocks"]},
                }
            ],
            "layout": _layout("Blocks by reason", margin={**_LAYOUT["margin"], "l": 180}),
        }
    )
    arms = data.arms
    has_arms = any(a.customers for a in arms)
    names = [f"{a.arm} (n={a.customers})" for a in arms]
    out.append(
        {
            "id": "conversion",
            "title": "Conversion, treated vs holdout (95% interval)",
            "empty": None if has_arms else "No decisions yet, so nothing to compare.",
            "data": [
                {
                    "type": "bar",
                    "x": names,
                    "y": [a.rate * 100 for a in arms],
                    "marker": {"color": ["#0b5fff", "#9ca3af"]},
                    "error_y": {
                        "type": "data",
                        "symmetric": False,
                        "array": [(a.rate_high - a.rate) * 100 for a in arms],
                        "arrayminus": [(a.rate - a.rate_low) * 100 for a in arms],
                    },
                    "hovertemplate": "%{x}: %{y:.1f}%<extra></extra>",
                }
            ],
            "layout": _layout(
                "Customers who ordered within 7 days (%)", yaxis={"rangemode": "tozero"}
            ),
        }
    )
    out.append(
        {
            "id": "revenue",
            "title": "Revenue per customer, treated vs holdout (95% interval)",
            "empty": None if has_arms else "No decisions yet, so nothing to compare.",
            "data": [
                {
                    "type": "bar",
                    "x": names,
                    "y": [a.revenue_mean for a in arms],
                    "marker": {"color": ["#1a7f37", "#9ca3af"]},
                    "error_y": {
                        "type": "data",
                        "symmetric": False,
                        "array": [a.revenue_high - a.revenue_mean for a in arms],
                        "arrayminus": [a.revenue_mean - a.revenue_low for a in arms],
                    },
                    "hovertemplate": "%{x}: %{y:.2f}<extra></extra>",
                }
            ],
            "layout": _layout("Revenue per customer within 7 days", yaxis={"rangemode": "tozero"}),
        }
    )
    out.append(
        {
            "id": "llm",
            "title": "LLM calls and tokens per day",
            "empty": None if sum(data.llm_calls) else "No LLM calls recorded in the last 30 days.",
            "data": [
                {
                    "type": "bar",
                    "name": "calls",
                    "x": x,
                    "y": data.llm_calls,
                    "marker": {"color": "#6366f1"},
                },
                *(
                    [
                        {
                            "type": "scatter",
                            "mode": "lines",
                            "name": "tokens",
                            "x": x,
                            "y": data.llm_tokens,
                            "yaxis": "y2",
                            "line": {"color": "#9a6700"},
                        }
                    ]
                    if sum(data.llm_tokens)  # not every backend reports tokens
                    else []
                ),
            ],
            "layout": _layout(
                "LLM usage" if sum(data.llm_tokens) else "LLM calls (tokens not recorded)",
                margin={**_LAYOUT["margin"], "r": 70},
                yaxis={"title": {"text": "calls"}, "rangemode": "tozero"},
                yaxis2={
                    "title": {"text": "tokens"},
                    "overlaying": "y",
                    "side": "right",
                    "rangemode": "tozero",
                },
            ),
        }
    )
    ages = data.queue_ages_min
    out.append(
        {
            "id": "queue",
            "title": "Review queue age",
            "empty": None if ages else "The review queue is empty.",
            "data": [
                {
                    "type": "histogram",
                    "x": ages,
                    "nbinsx": 20,
                    "marker": {"color": "#9a6700"},
                    "name": "pending reviews",
                }
            ],
            "layout": _layout(
                f"Minutes waiting ({len(ages)} pending, {data.queue_overdue} past deadline)",
                xaxis={"title": {"text": "minutes"}},
                yaxis={"title": {"text": "reviews"}},
            ),
        }
    )
    return out
