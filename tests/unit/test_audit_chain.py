"""The audit chain detects edits, deletions, insertions and reorders, on SQLite and Postgres."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core import audit
from core.db import session_scope
from core.tables import AuditEntry


def _write(engine: Engine, n: int, chain: str = "main") -> None:
    for i in range(n):
        with session_scope(engine) as session:
            audit.append(
                session,
                actor="test",
                kind="test.entry",
                payload={"i": i, "note": "x"},
                customer_id=f"c{i}",
                chain=chain,
            )


def _verify(engine: Engine, chain: str = "main") -> audit.ChainReport:
    with Session(engine) as session:
        return audit.verify_chain(session, chain)


def _id_of(engine: Engine, seq: int) -> int:
    with Session(engine) as session:
        row = session.exec(select(AuditEntry).where(AuditEntry.seq == seq)).one()
        assert row.id is not None
        return row.id


def test_intact_chain_verifies(engine: Engine) -> None:
    _write(engine, 5)
    report = _verify(engine)
    assert report.ok and report.entries == 5 and report.first_bad_id is None


def test_edited_payload_is_named(engine: Engine) -> None:
    _write(engine, 5)
    bad_id = _id_of(engine, 3)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_entries SET payload = :p WHERE id = :id"),
            {"p": '{"i": 99, "note": "x"}', "id": bad_id},
        )
    report = _verify(engine)
    assert not report.ok
    assert (report.first_bad_id, report.first_bad_seq) == (bad_id, 3)
    assert "payload" in (report.reason or "")


def test_edited_actor_is_named(engine: Engine) -> None:
    _write(engine, 4)
    bad_id = _id_of(engine, 2)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_entries SET actor = 'mallory' WHERE id = :id"), {"id": bad_id}
        )
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == bad_id


def test_deleted_entry_breaks_at_its_successor(engine: Engine) -> None:
    _write(engine, 5)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    report = _verify(engine)
    assert not report.ok
    assert report.first_bad_seq == 4 and report.first_bad_id == _id_of(engine, 4)


def test_deleted_and_renumbered_entries_are_caught(engine: Engine) -> None:
    _write(engine, 5)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 2"))
        for seq in (3, 4, 5):
            conn.execute(
                text("UPDATE audit_entries SET seq = :n WHERE seq = :o"), {"n": seq - 1, "o": seq}
            )
    report = _verify(engine)
    assert not report.ok and report.first_bad_seq == 2
    assert "prev_hash" in (report.reason or "")


def test_reordered_entries_are_caught(engine: Engine) -> None:
    _write(engine, 5)
    id2, id4 = _id_of(engine, 2), _id_of(engine, 4)
    with engine.begin() as conn:  # swap positions 2 and 4
        conn.execute(text("UPDATE audit_entries SET seq = -1 WHERE id = :id"), {"id": id2})
        conn.execute(text("UPDATE audit_entries SET seq = 2 WHERE id = :id"), {"id": id4})
        conn.execute(text("UPDATE audit_entries SET seq = 4 WHERE id = :id"), {"id": id2})
    report = _verify(engine)
    assert not report.ok and report.first_bad_seq == 2 and report.first_bad_id == id4


def test_inserted_entry_is_caught(engine: Engine) -> None:
    _write(engine, 3)
    with Session(engine) as session:
        last = session.exec(select(AuditEntry).order_by(col(AuditEntry.seq).desc())).first()
        assert last is not None
        forged = AuditEntry(
            chain="main",
            seq=last.seq + 1,
            actor="mallory",
            kind="test.entry",
            payload={"i": 7},
            payload_digest=audit.digest({"i": 7}),
            prev_hash="f" * 64,
            entry_hash="e" * 64,
        )
        session.add(forged)
        session.commit()
        forged_id = forged.id
    report = _verify(engine)
    assert not report.ok and report.first_bad_id == forged_id


def test_append_rolls_back_with_its_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        audit.append(session, actor="test", kind="test.entry", payload={})
        raise RuntimeError("business write failed")
    _write(engine, 1)
    with Session(engine) as session:
        rows = session.exec(select(AuditEntry)).all()
    assert [r.seq for r in rows] == [1]
    assert _verify(engine).ok


def test_concurrent_writers_do_not_fork_the_chain(engine: Engine) -> None:
    writers, per_writer = 8, 15
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for i in range(per_writer):
                with session_scope(engine) as session:
                    audit.append(session, actor=f"w{w}", kind="test.concurrent", payload={"i": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = _verify(engine)
    assert report.ok, report
    assert report.entries == writers * per_writer
    with Session(engine) as session:
        prevs = session.exec(select(AuditEntry.prev_hash)).all()
    assert len(set(prevs)) == len(prevs), "two entries share a predecessor: the chain forked"
