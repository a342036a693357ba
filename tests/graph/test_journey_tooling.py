"""langgraph.json opens the journey graph; `cjo bench journeys` prints the figures it promises."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_langgraph_json_points_at_a_graph_factory() -> None:
    config = json.loads((REPO / "langgraph.json").read_text())
    path, _, attr = config["graphs"]["journey"].partition(":")
    spec = importlib.util.spec_from_file_location("journey_graph_entry", REPO / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = getattr(module, attr)()
    assert {"decide", "create", "check", "execute", "escalate", "sleep", "finish"} <= set(
        graph.get_graph().nodes
    )


@pytest.mark.slow
def test_bench_journeys_reports_runs_per_s_and_overhead_ratio() -> None:
    from bench import journeys

    report = journeys.run(quick=True).as_dict()
    assert report["bench"] == "journeys"
    assert report["metrics"]["runs_per_s"] > 0
    assert report["metrics"]["overhead_ratio"] > 0
    assert report["details"]["outbox_rows"] == 5 + 2 * report["details"]["runs"]
