"""`?q=` searches one stored, lower-case text per CP through a trigram index (pg_trgm), instead
of scanning six columns of every row

pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: a role with CREATE on the
database, as each service's role has (deploy/), may create it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 07:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_TEXT = (
    "lower(id || chr(31) || coalesce(name, '') || chr(31) || coalesce(description, '')"
    " || chr(31) || coalesce(vendor, '') || chr(31) || coalesce(model, '')"
    " || chr(31) || coalesce(address::text, ''))"
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column(
        "charge_points",
        sa.Column("search_text", sa.Text(), sa.Computed(SEARCH_TEXT, persisted=True)),
        schema="registry",
    )
    op.create_index(
        "ix_charge_points_search",
        "charge_points",
        ["search_text"],
        schema="registry",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_charge_points_search", table_name="charge_points", schema="registry")
    op.drop_column("charge_points", "search_text", schema="registry")
