"""`cjo eval` and `cjo bench`: find suites/benchmarks by module name and print their figures."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

import typer

import bench
from cli.common import console, err_console
from evals import suites


def _names(package: Any, skip: set[str]) -> list[str]:
    return sorted(i.name for i in pkgutil.iter_modules(package.__path__) if i.name not in skip)


def _resolve(kind: str, package: Any, requested: str | None, skip: set[str]) -> list[str]:
    available = _names(package, skip)
    if requested is None:
        return available
    if requested not in available:
        err_console.print(
            f"[red]unknown {kind} {requested!r}[/]; available: {', '.join(available) or 'none'}"
        )
        raise typer.Exit(code=2)
    return [requested]


def run_evals(suite: str | None, as_json: bool) -> None:
    names = _resolve("eval suite", suites, suite, set())
    all_passed = True
    for name in names:
        module = importlib.import_module(f"{suites.__name__}.{name}")
        report = module.run()
        all_passed &= report.passed
        if as_json:
            print(json.dumps(report.as_dict()))
        else:
            console.rule(f"eval {name}: {'passed' if report.passed else 'FAILED'}")
            for key, value in report.metrics.items():
                target = report.targets.get(key)
                goal = f"  (target {target.op} {target.value})" if target else ""
                console.print(f"  {key:<32} {value}{goal}")
    raise typer.Exit(code=0 if all_passed else 1)


def run_benches(name: str | None, as_json: bool, quick: bool) -> None:
    names = _resolve("benchmark", bench, name, {"report"})
    for bench_name in names:
        module = importlib.import_module(f"{bench.__name__}.{bench_name}")
        report = module.run(quick=quick)
        if as_json:
            print(json.dumps(report.as_dict()))
        else:
            console.rule(f"bench {bench_name}")
            for key, value in report.metrics.items():
                console.print(f"  {key:<32} {value}")
