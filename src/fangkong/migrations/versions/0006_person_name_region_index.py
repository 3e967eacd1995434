"""The person name index also holds the community (name, region_code): the
contact-tracing match by name in a community read every namesake in the
city from the table. See people/models.py.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch_op:
        batch_op.create_index("ix_person_name_region_code", ["name", "region_code"])
        batch_op.drop_index("ix_person_name")


def downgrade() -> None:
    with op.batch_alter_table("person") as batch_op:
        batch_op.create_index("ix_person_name", ["name"])
        batch_op.drop_index("ix_person_name_region_code")
