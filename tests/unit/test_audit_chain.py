"""The audit chain detects edits, deletions (the newest too), insertions, reorders and re-hashed
rewrites, on SQLite and Postgres."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core import audit
from core.db import alembic_config, make_engine, migrate, session_scope
from core.settings import get_settings
from core.tables import AuditEntry, AuditHead


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


def _delete_newest(engine: Engine, count: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM audit_entries WHERE seq > (SELECT MAX(seq) FROM audit_entries) - :n"),
            {"n": count},
        )


def test_deleting_the_newest_entry_is_caught(engine: Engine) -> None:
    _write(engine, 5)
    _delete_newest(engine, 1)
    report = _verify(engine)
    assert not report.ok
    assert report.first_bad_seq == 5 and report.first_bad_id is None
    assert report.reason == "entries after seq 4 are missing (head says seq 5)"


def test_deleting_the_newest_two_entries_is_caught(engine: Engine) -> None:
    _write(engine, 5)
    _delete_newest(engine, 2)
    report = _verify(engine)
    assert not report.ok and report.first_bad_seq == 4
    assert report.reason == "entries after seq 3 are missing (head says seq 5)"


def test_deleting_every_entry_is_caught(engine: Engine) -> None:
    _write(engine, 3)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries"))
    with Session(engine) as session:
        assert audit.list_chains(session) == ["main"]
    report = _verify(engine)
    assert not report.ok and report.first_bad_seq == 1
    assert "after seq 0 are missing (head says seq 3)" in (report.reason or "")


def _rehash_from(engine: Engine, seq: int) -> None:
    """What an intruder with database access but no audit key can do: edit, re-hash, move head."""
    with Session(engine) as session:
        rows = session.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
        prev = rows[seq - 2].entry_hash if seq > 1 else audit.GENESIS_HASH
        for row in rows[seq - 1 :]:
            if row.seq == seq:
                row.payload = {"i": 99, "note": "rewritten"}
                row.payload_digest = audit.digest(row.payload)
            row.prev_hash = prev
            row.entry_hash = audit._entry_hash(row)
            prev = row.entry_hash
            session.add(row)
        head = session.get(AuditHead, "main")
        assert head is not None
        head.entry_hash = prev
        head.seal = audit.head_seal("main", head.seq, prev, key=b"a guess, not the audit key")
        session.add(head)
        session.commit()


def test_rewrite_that_rehashes_the_chain_and_moves_the_head_is_caught(engine: Engine) -> None:
    _write(engine, 5)
    _rehash_from(engine, 3)
    report = _verify(engine)
    assert not report.ok
    assert report.first_bad_seq == 5 and report.first_bad_id == _id_of(engine, 5)
    assert "not sealed with this installation's audit key" in (report.reason or "")


def test_truncation_with_a_moved_but_unsealed_head_is_caught(engine: Engine) -> None:
    _write(engine, 5)
    _delete_newest(engine, 2)
    with Session(engine) as session:
        last = session.exec(select(AuditEntry).where(AuditEntry.seq == 3)).one()
        head = session.get(AuditHead, "main")
        assert head is not None
        head.seq, head.entry_hash = 3, last.entry_hash  # the old seal stays: no key to redo it
        session.add(head)
        session.commit()
    report = _verify(engine)
    assert not report.ok and "not sealed" in (report.reason or "")


def test_deleted_head_record_is_caught(engine: Engine) -> None:
    _write(engine, 3)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_heads"))
    report = _verify(engine)
    assert not report.ok and report.first_bad_seq == 3
    assert "head record is missing" in (report.reason or "")


def test_entry_forged_beyond_the_head_is_named(engine: Engine) -> None:
    _write(engine, 3)
    with Session(engine) as session:
        last = session.exec(select(AuditEntry).where(AuditEntry.seq == 3)).one()
        forged = AuditEntry(
            chain="main",
            seq=4,
            actor="mallory",
            kind="test.entry",
            payload={"i": 7},
            payload_digest=audit.digest({"i": 7}),
            prev_hash=last.entry_hash,
            entry_hash="",
        )
        forged.entry_hash = audit._entry_hash(forged)  # a perfectly chained forgery
        session.add(forged)
        session.commit()
        forged_id = forged.id
    report = _verify(engine)
    assert not report.ok and (report.first_bad_seq, report.first_bad_id) == (4, forged_id)
    assert "beyond the chain head" in (report.reason or "")


def test_appends_keep_the_head_on_the_newest_entry(engine: Engine) -> None:
    _write(engine, 3)
    _write(engine, 2, chain="other")
    with Session(engine) as session:
        heads = {h.chain: (h.seq, h.entry_hash) for h in session.exec(select(AuditHead)).all()}
        last = session.exec(
            select(AuditEntry).where(AuditEntry.chain == "main", AuditEntry.seq == 3)
        ).one()
    assert heads["main"] == (3, last.entry_hash) and heads["other"][0] == 2
    assert _verify(engine, "other").ok


def test_head_key_defaults_to_a_private_file_in_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CJO_AUDIT_KEY")
    monkeypatch.setenv("CJO_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        key = audit.seal_key()
        path = tmp_path / "audit-key"
        assert key == path.read_text().encode() and len(key) >= 32
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert audit.seal_key() == key
    finally:
        get_settings.cache_clear()


def test_upgrading_a_database_with_entries_seals_its_existing_chains(tmp_path: Path) -> None:
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine)
    _write(engine, 3)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    command.downgrade(cfg, "core@core_0001")  # as it was before chain heads existed
    with engine.connect() as conn:
        assert "audit_heads" not in inspect(conn).get_table_names()
    migrate(engine)
    assert _verify(engine).ok
    _delete_newest(engine, 1)
    assert _verify(engine).reason == "entries after seq 2 are missing (head says seq 3)"
    engine.dispose()
