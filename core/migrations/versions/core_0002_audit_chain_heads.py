"""audit chain heads

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-12-01 21:59:43.332255

Adds `audit_heads` (the sealed last entry of each chain) and records a head for every chain
that already has entries, sealed with this installation's audit key, so that an upgraded
database verifies as before and from now on also notices deleted newest entries.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.audit import head_seal
from core.clock import utcnow

revision: str = "core_0002"
down_revision: str | Sequence[str] | None = "core_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    heads = op.create_table(
        "audit_heads",
        sa.Column("chain", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("seal", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )
    last = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT e.chain, e.seq, e.entry_hash FROM audit_entries e "
                "JOIN (SELECT chain, MAX(seq) AS seq FROM audit_entries GROUP BY chain) m "
                "ON e.chain = m.chain AND e.seq = m.seq"
            )
        )
        .all()
    )
    if last:
        now = utcnow()
        op.bulk_insert(
            heads,
            [
                {
                    "chain": chain,
                    "seq": seq,
                    "entry_hash": entry_hash,
                    "seal": head_seal(chain, seq, entry_hash),
                    "updated_at": now,
                }
                for chain, seq, entry_hash in last
            ],
        )


def downgrade() -> None:
    op.drop_table("audit_heads")
