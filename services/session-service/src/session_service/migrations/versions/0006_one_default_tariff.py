"""one default tariff at any moment: the validities of default tariffs never overlap (defaults
that overlap already keep the flag only on the one the resolution rule picks)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:00:00.000000
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

Window = tuple[datetime | None, datetime | None]


def _overlap(a: Window, b: Window) -> bool:
    """Whether [from, to) windows meet; None is unbounded."""
    return (a[0] is None or b[1] is None or a[0] < b[1]) and (
        b[0] is None or a[1] is None or b[0] < a[1]
    )


def _clear_overlapping_defaults() -> None:
    """Keep the flag on the default in force now (the one the rule prices with), then on each
    one the rule ranks next (latest validFrom, then newest) that overlaps none kept; clear it
    on the rest."""
    now = datetime.now(UTC)
    rows = op.get_bind().execute(
        sa.text(
            "SELECT id, valid_from, valid_to FROM sessions.tariffs WHERE is_default"
            " ORDER BY (coalesce(valid_from <= :now, true) AND coalesce(valid_to > :now, true))"
            " DESC, valid_from DESC NULLS LAST, id DESC"
        ),
        {"now": now},
    )
    kept: list[Window] = []
    cleared: list[int] = []
    for row in rows:
        window = (row.valid_from, row.valid_to)
        if any(_overlap(window, other) for other in kept):
            cleared.append(row.id)
        else:
            kept.append(window)
    if cleared:
        op.get_bind().execute(
            sa.text(
                "UPDATE sessions.tariffs SET is_default = false, updated_at = now()"
                " WHERE id = ANY(:ids)"
            ),
            {"ids": cleared},
        )
        log.warning("default tariffs overlapped; no longer default: tariff ids %s", cleared)


def upgrade() -> None:
    _clear_overlapping_defaults()
    op.execute(
        "ALTER TABLE sessions.tariffs ADD CONSTRAINT ex_tariffs_one_default"
        " EXCLUDE USING gist (tstzrange(valid_from, valid_to, '[)') WITH &&) WHERE (is_default)"
    )


def downgrade() -> None:
    op.drop_constraint("ex_tariffs_one_default", "tariffs", schema="sessions")
