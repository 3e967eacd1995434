"""Every exposure in the current region of its exposed person: from this
version the registry import moves exposures with their persons
(tracing/registry_moves.py) and the whole-graph refresh reads a new
secondary contact's region from them. Exposures of persons moved by an
earlier import are brought in line here; open risk records moved before
this version stay where they are (their audit trail would be missing).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """UPDATE exposure SET region_code = (SELECT p.region_code FROM person p
            WHERE p.id = exposure.person_id)
        WHERE region_code <> (SELECT p.region_code FROM person p WHERE p.id = exposure.person_id)"""
    )


def downgrade() -> None:
    """Nothing to undo: the regions were the registry's."""
