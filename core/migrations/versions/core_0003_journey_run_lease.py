"""journey run lease

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-12-03 08:40:00

`journey_runs.lease`: the token of the runner that holds the run. Every node renews the run's
`updated_at` only while the token is still its own, so a runner that took over a run it
thought dead makes the first one stop at its next node instead of both sending.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "core_0003"
down_revision: str | Sequence[str] | None = "core_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("journey_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("journey_runs", schema=None) as batch_op:
        batch_op.drop_column("lease")
