"""schema loads: stored charging profiles per station, the command requests' outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE loads.charging_profile_revisions")
    op.create_table(
        "charging_profiles",
        sa.Column("charge_point_id", sa.String(48), primary_key=True),
        sa.Column("profile_id", sa.BigInteger, primary_key=True),
        sa.Column("connector_id", sa.BigInteger, nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("stack_level", sa.BigInteger, nullable=False),
        sa.Column("profile", JSONB, nullable=False),
        sa.Column("ocpp_version", sa.String(8), nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(100)),
        sa.Column("command_id", sa.String(64)),
        sa.Column("outcome", sa.String(32)),
        sa.Column("response", JSONB),
        sa.Column("reason", sa.Text),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "action IN ('SetChargingProfile', 'ClearChargingProfile')",
            name="ck_charging_profiles_action",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'failed')",
            name="ck_charging_profiles_status",
        ),
        sa.CheckConstraint("ocpp_version IN ('1.6', '2.0.1')", name="ck_charging_profiles_version"),
        schema="loads",
    )
    op.create_index(
        "charging_profiles_target",
        "charging_profiles",
        ["charge_point_id", "connector_id", "purpose", "stack_level"],
        schema="loads",
    )
    op.create_index(
        "charging_profiles_request",
        "charging_profiles",
        ["request_id"],
        unique=True,
        schema="loads",
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    op.create_table(
        "command_outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="loads",
    )


def downgrade() -> None:
    op.drop_table("command_outbox", schema="loads")
    op.drop_table("charging_profiles", schema="loads")
    op.execute("DROP SEQUENCE loads.charging_profile_revisions")
