"""one credit per outcome event and kind

An outcome event used to be unique per (event, decision, kind), which let the end-of-run goal
credit and the event-stream attribution credit one purchase to two decisions. Rows that did
so are removed, keeping the first credit of each (source_key, kind), before the tighter
constraint is added. The bandit's reward rows written from those credits are not rewritten.

Revision ID: agents_0002
Revises: agents_0001
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "agents_0002"
down_revision: str | Sequence[str] | None = "agents_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM journey_attributions WHERE id NOT IN ("
        " SELECT first_id FROM ("
        "  SELECT MIN(id) AS first_id FROM journey_attributions GROUP BY source_key, kind"
        " ) AS firsts)"
    )
    with op.batch_alter_table("journey_attributions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_attribution_source", type_="unique")
        batch_op.create_unique_constraint("uq_attribution_source_kind", ["source_key", "kind"])


def downgrade() -> None:
    with op.batch_alter_table("journey_attributions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_attribution_source_kind", type_="unique")
        batch_op.create_unique_constraint(
            "uq_attribution_source", ["source_key", "decision_id", "kind"]
        )
