"""Mass testing: rounds and areas, sampling sites, tubes and members, lab
results, exemptions, temporary control, follow-up tasks, positive persons.
The high-volume tables (tube, tube_member, lab_result) carry no foreign
keys; see testing/models.py.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fangkong.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lab_result",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tube_id", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("ct_orf1ab", sa.Float(), nullable=True),
        sa.Column("ct_n", sa.Float(), nullable=True),
        sa.Column("lab", sa.String(length=100), nullable=False),
        sa.Column("tested_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("received_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "result IN ('negative', 'positive', 'invalid')", name=op.f("ck_lab_result_result")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_result")),
        sa.UniqueConstraint("tube_id", "fingerprint", name=op.f("uq_lab_result_tube_id")),
    )
    op.create_table(
        "sampling_site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("staff", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sampling_site")),
    )
    with op.batch_alter_table("sampling_site", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sampling_site_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "tube",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "barcode",
            sa.String(length=40).with_variant(sa.VARCHAR(length=40, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("client_uid", sa.String(length=64), nullable=True),
        sa.Column("opened_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("collected_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("received_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("tested_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("result_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("lab", sa.String(length=100), nullable=False),
        sa.Column("conflict", sa.Boolean(), nullable=False),
        sa.CheckConstraint("purpose IN ('round', 'followup')", name=op.f("ck_tube_purpose")),
        sa.CheckConstraint(
            "result IS NULL OR result IN ('negative', 'positive', 'invalid')",
            name=op.f("ck_tube_result"),
        ),
        sa.CheckConstraint(
            "state IN ('open', 'collected', 'received', 'tested')", name=op.f("ck_tube_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tube")),
    )
    with op.batch_alter_table("tube", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tube_region_code"), ["region_code"], unique=False)
        batch_op.create_index("ix_tube_round_state", ["round_id", "state"], unique=False)
        batch_op.create_index("uq_tube_barcode", ["barcode"], unique=True)

    op.create_table(
        "tube_member",
        sa.Column("tube_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("person_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("sampled_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tube_id", "person_id", name=op.f("pk_tube_member")),
    )
    with op.batch_alter_table("tube_member", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tube_member_task_id",
            ["task_id"],
            unique=False,
            postgresql_where=sa.text("task_id IS NOT NULL"),
            sqlite_where=sa.text("task_id IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_tube_member_person_round",
            ["person_id", "round_id"],
            unique=True,
            postgresql_where=sa.text("task_id IS NULL"),
            sqlite_where=sa.text("task_id IS NULL"),
        )

    op.create_table(
        "testing_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_testing_round_created_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_testing_round")),
    )
    with op.batch_alter_table("testing_round", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_testing_round_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "round_area",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "prefix",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_round_area_region_code_region")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["testing_round.id"], name=op.f("fk_round_area_round_id_testing_round")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_area")),
        sa.UniqueConstraint("round_id", "region_code", name=op.f("uq_round_area_round_id")),
    )
    with op.batch_alter_table("round_area", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_round_area_round_id"), ["round_id"], unique=False)

    op.create_table(
        "follow_up_task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column(
            "source_tube_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("done_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'done', 'cancelled')", name=op.f("ck_follow_up_task_state")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_follow_up_task_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["testing_round.id"],
            name=op.f("fk_follow_up_task_round_id_testing_round"),
        ),
        sa.ForeignKeyConstraint(
            ["source_tube_id"], ["tube.id"], name=op.f("fk_follow_up_task_source_tube_id_tube")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_task")),
        sa.UniqueConstraint(
            "person_id", "source_tube_id", name=op.f("uq_follow_up_task_person_id")
        ),
    )
    with op.batch_alter_table("follow_up_task", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_follow_up_task_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_follow_up_task_region_code"), ["region_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_follow_up_task_source_tube_id"), ["source_tube_id"], unique=False
        )

    op.create_table(
        "positive_person",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("tube_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "via_pool_tube_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "lab_result_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("found_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lab_result_id"],
            ["lab_result.id"],
            name=op.f("fk_positive_person_lab_result_id_lab_result"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_positive_person_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["testing_round.id"],
            name=op.f("fk_positive_person_round_id_testing_round"),
        ),
        sa.ForeignKeyConstraint(
            ["tube_id"], ["tube.id"], name=op.f("fk_positive_person_tube_id_tube")
        ),
        sa.ForeignKeyConstraint(
            ["via_pool_tube_id"], ["tube.id"], name=op.f("fk_positive_person_via_pool_tube_id_tube")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positive_person")),
        sa.UniqueConstraint("person_id", "tube_id", name=op.f("uq_positive_person_person_id")),
    )
    with op.batch_alter_table("positive_person", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_positive_person_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_positive_person_region_code"), ["region_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_positive_person_round_id"), ["round_id"], unique=False)

    op.create_table(
        "temporary_control",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column(
            "source_tube_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("started_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_temporary_control_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["testing_round.id"],
            name=op.f("fk_temporary_control_round_id_testing_round"),
        ),
        sa.ForeignKeyConstraint(
            ["source_tube_id"], ["tube.id"], name=op.f("fk_temporary_control_source_tube_id_tube")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_temporary_control")),
        sa.UniqueConstraint(
            "person_id", "source_tube_id", name=op.f("uq_temporary_control_person_id")
        ),
    )
    with op.batch_alter_table("temporary_control", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_temporary_control_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_temporary_control_region_code"), ["region_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_temporary_control_source_tube_id"), ["source_tube_id"], unique=False
        )

    op.create_table(
        "testing_exemption",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('away', 'hospital', 'infant', 'other')",
            name=op.f("ck_testing_exemption_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_testing_exemption_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["user_account.id"],
            name=op.f("fk_testing_exemption_recorded_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["testing_round.id"],
            name=op.f("fk_testing_exemption_round_id_testing_round"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_testing_exemption")),
        sa.UniqueConstraint("round_id", "person_id", name=op.f("uq_testing_exemption_round_id")),
    )
    with op.batch_alter_table("testing_exemption", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_testing_exemption_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_testing_exemption_region_code"), ["region_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("testing_exemption", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_testing_exemption_region_code"))
        batch_op.drop_index(batch_op.f("ix_testing_exemption_person_id"))

    op.drop_table("testing_exemption")
    with op.batch_alter_table("temporary_control", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_temporary_control_source_tube_id"))
        batch_op.drop_index(batch_op.f("ix_temporary_control_region_code"))
        batch_op.drop_index(batch_op.f("ix_temporary_control_person_id"))

    op.drop_table("temporary_control")
    with op.batch_alter_table("positive_person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_positive_person_round_id"))
        batch_op.drop_index(batch_op.f("ix_positive_person_region_code"))
        batch_op.drop_index(batch_op.f("ix_positive_person_person_id"))

    op.drop_table("positive_person")
    with op.batch_alter_table("follow_up_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_up_task_source_tube_id"))
        batch_op.drop_index(batch_op.f("ix_follow_up_task_region_code"))
        batch_op.drop_index(batch_op.f("ix_follow_up_task_person_id"))

    op.drop_table("follow_up_task")
    with op.batch_alter_table("round_area", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_area_round_id"))

    op.drop_table("round_area")
    with op.batch_alter_table("testing_round", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_testing_round_region_code"))

    op.drop_table("testing_round")
    with op.batch_alter_table("tube_member", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_tube_member_person_round",
            postgresql_where=sa.text("task_id IS NULL"),
            sqlite_where=sa.text("task_id IS NULL"),
        )
        batch_op.drop_index(
            "ix_tube_member_task_id",
            postgresql_where=sa.text("task_id IS NOT NULL"),
            sqlite_where=sa.text("task_id IS NOT NULL"),
        )

    op.drop_table("tube_member")
    with op.batch_alter_table("tube", schema=None) as batch_op:
        batch_op.drop_index("uq_tube_barcode")
        batch_op.drop_index("ix_tube_round_state")
        batch_op.drop_index(batch_op.f("ix_tube_region_code"))

    op.drop_table("tube")
    with op.batch_alter_table("sampling_site", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sampling_site_region_code"))

    op.drop_table("sampling_site")
    op.drop_table("lab_result")
