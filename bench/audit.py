"""Audit append throughput: chained appends vs raw inserts of the same rows, same database."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import insert

from bench.report import BenchReport, timed
from core import audit
from core.db import make_engine, migrate, session_scope
from core.tables import AuditEntry


def run(quick: bool = False) -> BenchReport:
    n = 500 if quick else 5000
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)

        def chained() -> None:
            # one transaction per entry, as a request or graph node would write it
            for i in range(n):
                with session_scope(engine) as session:
                    audit.append(
                        session, actor="bench", kind="bench.entry", payload={"i": i}, chain="bench"
                    )

        def raw() -> None:
            for i in range(n):
                with session_scope(engine) as session:
                    session.execute(
                        insert(AuditEntry).values(
                            chain="raw",
                            seq=i + 1,
                            actor="bench",
                            kind="bench.entry",
                            payload={"i": i},
                            payload_digest="x",
                            prev_hash="x",
                            entry_hash="x",
                        )
                    )

        raw_s, _ = timed(raw)
        chained_s, _ = timed(chained)
        with session_scope(engine) as session:
            ok = audit.verify_chain(session, "bench").ok
        engine.dispose()
    return BenchReport(
        bench="audit",
        metrics={
            "appends_per_s": round(n / chained_s, 1),
            "raw_inserts_per_s": round(n / raw_s, 1),
            "append_to_raw_ratio": round(raw_s / chained_s, 3),
            "chain_intact": 1.0 if ok else 0.0,
        },
        details={"entries": n, "database": "sqlite"},
    )
