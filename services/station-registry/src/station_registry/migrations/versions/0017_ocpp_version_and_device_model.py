"""charge_points.ocpp_version; variables: an OCPP 2.0.1 station's device model

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "charge_points",
        sa.Column("ocpp_version", sa.String(8), nullable=False, server_default="1.6"),
        schema="registry",
    )
    op.create_table(
        "variables",
        sa.Column(
            "charge_point_id",
            sa.String(48),
            sa.ForeignKey("registry.charge_points.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("component", sa.String(50), primary_key=True),
        sa.Column("component_instance", sa.String(50), primary_key=True, server_default=""),
        sa.Column("evse_id", sa.Integer, primary_key=True, server_default="0"),
        sa.Column("connector_id", sa.Integer, primary_key=True, server_default="0"),
        sa.Column("variable", sa.String(50), primary_key=True),
        sa.Column("variable_instance", sa.String(50), primary_key=True, server_default=""),
        sa.Column("attribute_type", sa.String(8), primary_key=True, server_default="Actual"),
        sa.Column("value", sa.String(2500)),
        sa.Column("mutability", sa.String(10)),
        sa.Column("persistent", sa.Boolean),
        sa.Column("constant", sa.Boolean),
        sa.Column("data_type", sa.String(20)),
        sa.Column("unit", sa.String(16)),
        sa.Column("min_limit", sa.Float),
        sa.Column("max_limit", sa.Float),
        sa.Column("values_list", sa.String(1000)),
        sa.Column("supports_monitoring", sa.Boolean),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="registry",
    )


def downgrade() -> None:
    op.drop_table("variables", schema="registry")
    op.drop_column("charge_points", "ocpp_version", schema="registry")
