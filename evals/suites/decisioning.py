"""`cjo eval decisioning`: churn model vs BG/NBD on CDNOW, and off-policy evaluation on OBD.

Churn: both models see only purchases before 1997-10-01 and the same train customers; both are
scored on the held-out 30% of customers (label: no purchase up to 1998-06-30).
OPE: cjo's LinUCB policy on the Open Bandit Dataset `random` logs, cross-fitted, with IPS, SNIPS
and DR and bootstrap 95% intervals, beside the logged (uniform) policy's click rate; then the
same evaluator on cjo's own logged decisions: `own_*` on a simulated closed loop, and `db_*` on
the configured database's decisions when it has any (both cross-fitted, model arm only; see
decisioning/ope_logs.py for why the rules arm is left out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core.db import make_engine, session_scope
from decisioning.bgnbd import BgNbd
from decisioning.cdnow import load_cdnow
from decisioning.churn import churn_features, train
from decisioning.holdout import get_decisioning_settings
from decisioning.metrics import auc, brier, expected_calibration_error
from decisioning.obd import evaluate_linucb_on_obd, load_obd
from decisioning.ope import Interval, estimate_all
from decisioning.ope_logs import cross_fitted
from decisioning.simulation import simulate_and_evaluate
from evals.report import EvalReport, Target

__all__ = ["churn_figures", "db_log_figures", "ope_figures", "own_log_figures", "run"]

MIN_DB_ROWS = 20  # fewer model-arm decisions than this say nothing yet


def churn_figures() -> tuple[dict[str, float], dict[str, object]]:
    split = load_cdnow()
    raw = np.array([churn_features(c) for c in split.computed])
    tr, te = ~split.is_test, split.is_test
    model = train(raw[tr], split.churned[tr])
    ours = model.score_many(raw[te])
    bg = BgNbd.fit(split.x[tr], split.t_x[tr], split.big_t[tr])
    base = bg.p_churn(split.x[te], split.t_x[te], split.big_t[te], split.holdout_weeks)
    y = split.churned[te]
    metrics = {
        "churn_auc": round(auc(y, ours), 4),
        "baseline_churn_auc": round(auc(y, base), 4),
        "churn_brier": round(brier(y, ours), 4),
        "baseline_churn_brier": round(brier(y, base), 4),
        "churn_ece": round(expected_calibration_error(y, ours), 4),
        "baseline_churn_ece": round(expected_calibration_error(y, base), 4),
    }
    metrics["churn_auc_lift"] = round(metrics["churn_auc"] - metrics["baseline_churn_auc"], 4)
    details = {
        "customers": len(y) + int(tr.sum()),
        "test_customers": int(te.sum()),
        "test_churn_rate": round(float(y.mean()), 4),
        "bgnbd_params": {k: round(v, 4) for k, v in vars(bg).items()},
        "churn_model_version": model.version,
    }
    return metrics, details


def ope_figures(n_boot: int = 1000) -> tuple[dict[str, float], dict[str, object]]:
    data, info = evaluate_linucb_on_obd(load_obd())
    est = estimate_all(data, n_boot=n_boot)
    metrics: dict[str, float] = {}
    for name in ("ips", "snips", "dr"):
        interval = est[name]
        metrics[f"ope_{name}"] = round(interval.value, 5)
        metrics[f"ope_{name}_lo"] = round(interval.lo, 5)
        metrics[f"ope_{name}_hi"] = round(interval.hi, 5)
    metrics["logged_ctr"] = round(est["logged"].value, 5)
    metrics["logged_ctr_lo"] = round(est["logged"].lo, 5)
    metrics["logged_ctr_hi"] = round(est["logged"].hi, 5)
    metrics["ope_effective_sample_size"] = round(info["effective_sample_size"], 1)
    return metrics, {"obd": {**info, "logs": "random/all", "bootstrap": n_boot}}


def _interval_metrics(prefix: str, est: dict[str, Interval]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for name in ("ips", "snips", "dr"):
        metrics[f"{prefix}_{name}"] = round(est[name].value, 5)
        metrics[f"{prefix}_{name}_lo"] = round(est[name].lo, 5)
        metrics[f"{prefix}_{name}_hi"] = round(est[name].hi, 5)
    return metrics


def own_log_figures(n: int = 300) -> tuple[dict[str, float], dict[str, object]]:
    """The same evaluator on cjo's own decisions, from a simulated closed loop (simulation.py)."""
    est, result = simulate_and_evaluate(n)
    metrics = _interval_metrics("own_ope", est)
    metrics["own_logged_reward"] = round(est["logged"].value, 5)
    return metrics, {"own_logs": {"decisions": n, "simulated": True, **result.describe()}}


def db_log_figures(
    database_url: str | None = None, *, n_boot: int = 1000
) -> tuple[dict[str, float], dict[str, object]]:
    """Cross-fitted OPE on the configured database's own decisions (`db_*`), if it has any.

    Reads only: a missing SQLite file is not created, a database without cjo's tables or with
    too few model-arm decisions is reported as skipped.
    """
    if database_url is None:
        from core.settings import get_settings

        database_url = get_settings().resolved_database_url
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return {}, {"db_logs": {"skipped": "no database file"}}
    engine = make_engine(database_url, read_only=url.get_backend_name() == "sqlite")
    try:
        if not inspect(engine).has_table("decisions"):
            return {}, {"db_logs": {"skipped": "no decisions table"}}
        settings = get_decisioning_settings()
        with session_scope(engine) as session:
            result = cross_fitted(session, epsilon=settings.epsilon, alpha=settings.ucb_alpha)
    except SQLAlchemyError as exc:
        return {}, {"db_logs": {"skipped": f"database not readable: {type(exc).__name__}"}}
    finally:
        engine.dispose()
    info: dict[str, Any] = {"database": url.render_as_string(hide_password=True)}
    info |= result.describe()
    if result.n_logged < MIN_DB_ROWS:
        info["skipped"] = f"{result.n_logged} model-arm decisions, need {MIN_DB_ROWS}"
        return {}, {"db_logs": info}
    est = estimate_all(result.data, n_boot=n_boot)
    metrics = _interval_metrics("db_ope", est)
    metrics["db_logged_reward"] = round(est["logged"].value, 5)
    metrics["db_ope_n_logged"] = float(result.n_logged)
    return metrics, {"db_logs": info}


def run() -> EvalReport:
    churn, churn_details = churn_figures()
    ope, ope_details = ope_figures()
    own, own_details = own_log_figures()
    db, db_details = db_log_figures()
    return EvalReport(
        suite="decisioning",
        metrics={**churn, **ope, **own, **db},
        targets={
            "churn_auc": Target(">=", 0.75),
            "churn_auc_lift": Target(">", 0.0),
        },
        details={"churn": churn_details, **ope_details, **own_details, **db_details},
    )
