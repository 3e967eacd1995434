"""Two changes for contact tracing's bulk paths (benchmarks/RESULTS.md,
"Tracing"): the person name index also holds the community
(name, region_code), as the match by name in a community read every
namesake in the city from the table; risk_person.assigned_to loses its
foreign key, whose trigger fired for every record a bulk write adds. See
people/models.py and tracing/models.py.

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
    with op.batch_alter_table("risk_person") as batch_op:
        batch_op.drop_constraint("fk_risk_person_assigned_to_user_account", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("risk_person") as batch_op:
        batch_op.create_foreign_key(
            "fk_risk_person_assigned_to_user_account", "user_account", ["assigned_to"], ["id"]
        )
    with op.batch_alter_table("person") as batch_op:
        batch_op.create_index("ix_person_name", ["name"])
        batch_op.drop_index("ix_person_name_region_code")
