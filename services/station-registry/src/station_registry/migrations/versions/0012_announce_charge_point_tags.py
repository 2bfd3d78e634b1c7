"""announce every tagged CP once (`charge_point.updated`), so the session-service, which prices
transactions by tag from now on, learns the tags given before it followed them

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 06:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Through the outbox, as every event leaves: the relay publishes these after the commit.
    op.execute(
        """
        INSERT INTO registry.outbox (routing_key, body)
        SELECT 'charge_point.updated',
               convert_to(jsonb_build_object(
                   'v', 1,
                   'event', 'charge_point.updated',
                   'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'chargePointId', id,
                   'tags', to_jsonb(tags),
                   'name', name,
                   'decommissioned', decommissioned_at IS NOT NULL
               )::text, 'UTF8')
        FROM registry.charge_points
        WHERE cardinality(tags) > 0
        ORDER BY id
        """
    )


def downgrade() -> None:
    pass  # announcements are facts already published
