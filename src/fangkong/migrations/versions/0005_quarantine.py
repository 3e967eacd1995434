"""Quarantine and designated hospitals: facilities, inspections, staff,
rooms and beds, stays with their moves, scheduled tests and daily checks,
cross-infection alerts and their neighbours; tubes (and their members and
positives) may belong to no round: a single tube taken during a stay.
See quarantine/models.py.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fangkong.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "facility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('quarantine_site', 'designated_hospital', 'makeshift_hospital')",
            name=op.f("ck_facility_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_facility_region_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility")),
        sa.UniqueConstraint("name", name=op.f("uq_facility_name")),
    )
    op.create_index(op.f("ix_facility_region_code"), "facility", ["region_code"], unique=False)
    op.create_table(
        "facility_inspection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("inspector", sa.String(length=100), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_facility_inspection_facility_id_facility"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_inspection")),
    )
    op.create_index(
        op.f("ix_facility_inspection_facility_id"),
        "facility_inspection",
        ["facility_id"],
        unique=False,
    )
    op.create_table(
        "facility_staff",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facility.id"], name=op.f("fk_facility_staff_facility_id_facility")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_facility_staff_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("user_id", "facility_id", name=op.f("pk_facility_staff")),
    )
    op.create_table(
        "room",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("building", sa.String(length=40), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("ward", sa.String(length=40), nullable=False),
        sa.Column("ward_level", sa.String(length=12), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("private_bathroom", sa.Boolean(), nullable=False),
        sa.Column("care_team", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('room', 'bed')", name=op.f("ck_room_kind")),
        sa.CheckConstraint(
            "status IN ('ready', 'occupied', 'cleaning', 'out_of_service')",
            name=op.f("ck_room_status"),
        ),
        sa.CheckConstraint(
            "ward_level IN ('', 'mild', 'moderate', 'severe', 'critical')",
            name=op.f("ck_room_ward_level"),
        ),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_room_capacity")),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facility.id"], name=op.f("fk_room_facility_id_facility")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room")),
        sa.UniqueConstraint("facility_id", "building", "number", name=op.f("uq_room_facility_id")),
        sa.UniqueConstraint("id", "facility_id", name=op.f("uq_room_id")),
    )
    op.create_index(
        "ix_room_facility_floor",
        "room",
        ["facility_id", "building", "floor", "position"],
        unique=False,
    )
    op.create_index(op.f("ix_room_region_code"), "room", ["region_code"], unique=False)
    op.create_table(
        "stay",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "risk_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("household_id", sa.BigInteger(), nullable=True),
        sa.Column("exposure_key", sa.String(length=80), nullable=False),
        sa.Column(
            "companion_of", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("severity", sa.String(length=12), nullable=False),
        sa.Column("last_exposure_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("started_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("planned_end_on", sa.Date(), nullable=True),
        sa.Column("ended_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=False),
        sa.Column("placed_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("(ended_at IS NULL) = (end_reason = '')", name=op.f("ck_stay_ended")),
        sa.CheckConstraint(
            "end_reason IN ('', 'released', 'became_case', 'discharged', 'moved_home', "
            "'not_a_contact')",
            name=op.f("ck_stay_end_reason"),
        ),
        sa.CheckConstraint(
            "kind IN ('centralized', 'home_quarantine', 'home_monitoring', 'hospital')",
            name=op.f("ck_stay_kind"),
        ),
        sa.CheckConstraint(
            "severity IN ('', 'mild', 'moderate', 'severe', 'critical')",
            name=op.f("ck_stay_severity"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["tracing_case.id"], name=op.f("fk_stay_case_id_tracing_case")
        ),
        sa.ForeignKeyConstraint(
            ["companion_of"], ["stay.id"], name=op.f("fk_stay_companion_of_stay")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_stay_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["placed_by"], ["user_account.id"], name=op.f("fk_stay_placed_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["risk_person_id"], ["risk_person.id"], name=op.f("fk_stay_risk_person_id_risk_person")
        ),
        sa.ForeignKeyConstraint(
            ["room_id", "facility_id"],
            ["room.id", "room.facility_id"],
            name=op.f("fk_stay_room_id_room"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stay")),
    )
    op.create_index(
        "ix_stay_case_id",
        "stay",
        ["case_id"],
        unique=False,
        postgresql_where=sa.text("case_id IS NOT NULL"),
        sqlite_where=sa.text("case_id IS NOT NULL"),
    )
    op.create_index("ix_stay_facility_in_force", "stay", ["facility_id", "ended_at"], unique=False)
    op.create_index(op.f("ix_stay_person_id"), "stay", ["person_id"], unique=False)
    op.create_index(op.f("ix_stay_region_code"), "stay", ["region_code"], unique=False)
    op.create_index(op.f("ix_stay_risk_person_id"), "stay", ["risk_person_id"], unique=False)
    op.create_index(op.f("ix_stay_room_id"), "stay", ["room_id"], unique=False)
    op.create_index(
        "uq_stay_person_in_force",
        "stay",
        ["person_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
        sqlite_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "check_in",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stay_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("checked_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.Integer(), nullable=True),
        sa.Column("seal_intact", sa.Boolean(), nullable=True),
        sa.Column("symptoms", sa.Boolean(), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checked_by"], ["user_account.id"], name=op.f("fk_check_in_checked_by_user_account")
        ),
        sa.ForeignKeyConstraint(["stay_id"], ["stay.id"], name=op.f("fk_check_in_stay_id_stay")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_in")),
        sa.UniqueConstraint("stay_id", "on_date", name=op.f("uq_check_in_stay_id")),
    )
    op.create_index(op.f("ix_check_in_region_code"), "check_in", ["region_code"], unique=False)
    op.create_table(
        "quarantine_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("stay_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tube_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sampled_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("raised_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("closed_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('cross_infection')", name=op.f("ck_quarantine_alert_kind")),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_quarantine_alert_status")),
        sa.ForeignKeyConstraint(
            ["closed_by"],
            ["user_account.id"],
            name=op.f("fk_quarantine_alert_closed_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facility.id"], name=op.f("fk_quarantine_alert_facility_id_facility")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_quarantine_alert_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["stay_id"], ["stay.id"], name=op.f("fk_quarantine_alert_stay_id_stay")
        ),
        sa.ForeignKeyConstraint(
            ["tube_id"], ["tube.id"], name=op.f("fk_quarantine_alert_tube_id_tube")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine_alert")),
        sa.UniqueConstraint("stay_id", "tube_id", name=op.f("uq_quarantine_alert_stay_id")),
    )
    op.create_index(
        op.f("ix_quarantine_alert_facility_id"), "quarantine_alert", ["facility_id"], unique=False
    )
    op.create_index(
        op.f("ix_quarantine_alert_region_code"), "quarantine_alert", ["region_code"], unique=False
    )
    op.create_table(
        "scheduled_test",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stay_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("tube_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("sampled_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tube_id"], ["tube.id"], name=op.f("fk_scheduled_test_tube_id_tube")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_test")),
        sa.UniqueConstraint("stay_id", "day", name=op.f("uq_scheduled_test_stay_id")),
    )
    op.create_index(op.f("ix_scheduled_test_due_on"), "scheduled_test", ["due_on"], unique=False)
    op.create_index(
        "ix_scheduled_test_tube_id",
        "scheduled_test",
        ["tube_id"],
        unique=False,
        postgresql_where=sa.text("tube_id IS NOT NULL"),
        sqlite_where=sa.text("tube_id IS NOT NULL"),
    )
    op.create_table(
        "stay_move",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stay_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "from_room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "to_room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("moved_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("moved_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["from_room_id"], ["room.id"], name=op.f("fk_stay_move_from_room_id_room")
        ),
        sa.ForeignKeyConstraint(
            ["moved_by"], ["user_account.id"], name=op.f("fk_stay_move_moved_by_user_account")
        ),
        sa.ForeignKeyConstraint(["stay_id"], ["stay.id"], name=op.f("fk_stay_move_stay_id_stay")),
        sa.ForeignKeyConstraint(
            ["to_room_id"], ["room.id"], name=op.f("fk_stay_move_to_room_id_room")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stay_move")),
    )
    op.create_index(op.f("ix_stay_move_stay_id"), "stay_move", ["stay_id"], unique=False)
    op.create_table(
        "alert_neighbour",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("stay_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column(
            "risk_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "relation IN ('adjacent_room', 'same_floor', 'same_team')",
            name=op.f("ck_alert_neighbour_relation"),
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["quarantine_alert.id"],
            name=op.f("fk_alert_neighbour_alert_id_quarantine_alert"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_alert_neighbour_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["risk_person_id"],
            ["risk_person.id"],
            name=op.f("fk_alert_neighbour_risk_person_id_risk_person"),
        ),
        sa.ForeignKeyConstraint(
            ["stay_id"], ["stay.id"], name=op.f("fk_alert_neighbour_stay_id_stay")
        ),
        sa.PrimaryKeyConstraint("alert_id", "stay_id", name=op.f("pk_alert_neighbour")),
    )
    with op.batch_alter_table("positive_person") as batch:
        batch.alter_column("round_id", existing_type=sa.INTEGER(), nullable=True)
    with op.batch_alter_table("tube_member") as batch:
        batch.alter_column("round_id", existing_type=sa.INTEGER(), nullable=True)
    with op.batch_alter_table("tube") as batch:
        batch.alter_column("round_id", existing_type=sa.INTEGER(), nullable=True)
        batch.drop_constraint(op.f("ck_tube_purpose"), type_="check")
        batch.create_check_constraint("purpose", "purpose IN ('round', 'followup', 'stay')")


def downgrade() -> None:
    with op.batch_alter_table("tube") as batch:
        batch.drop_constraint(op.f("ck_tube_purpose"), type_="check")
        batch.create_check_constraint("purpose", "purpose IN ('round', 'followup')")
        batch.alter_column("round_id", existing_type=sa.INTEGER(), nullable=False)
    with op.batch_alter_table("tube_member") as batch:
        batch.alter_column("round_id", existing_type=sa.INTEGER(), nullable=False)
    with op.batch_alter_table("positive_person") as batch:
        batch.alter_column("round_id", existing_type=sa.INTEGER(), nullable=False)
    op.drop_table("alert_neighbour")
    op.drop_index(op.f("ix_stay_move_stay_id"), table_name="stay_move")
    op.drop_table("stay_move")
    op.drop_index("ix_scheduled_test_tube_id", table_name="scheduled_test")
    op.drop_index(op.f("ix_scheduled_test_due_on"), table_name="scheduled_test")
    op.drop_table("scheduled_test")
    op.drop_index(op.f("ix_quarantine_alert_region_code"), table_name="quarantine_alert")
    op.drop_index(op.f("ix_quarantine_alert_facility_id"), table_name="quarantine_alert")
    op.drop_table("quarantine_alert")
    op.drop_index(op.f("ix_check_in_region_code"), table_name="check_in")
    op.drop_table("check_in")
    op.drop_index(
        "uq_stay_person_in_force",
        table_name="stay",
        postgresql_where=sa.text("ended_at IS NULL"),
        sqlite_where=sa.text("ended_at IS NULL"),
    )
    op.drop_index(op.f("ix_stay_room_id"), table_name="stay")
    op.drop_index(op.f("ix_stay_risk_person_id"), table_name="stay")
    op.drop_index(op.f("ix_stay_region_code"), table_name="stay")
    op.drop_index(op.f("ix_stay_person_id"), table_name="stay")
    op.drop_index("ix_stay_facility_in_force", table_name="stay")
    op.drop_index("ix_stay_case_id", table_name="stay")
    op.drop_table("stay")
    op.drop_index(op.f("ix_room_region_code"), table_name="room")
    op.drop_index("ix_room_facility_floor", table_name="room")
    op.drop_table("room")
    op.drop_table("facility_staff")
    op.drop_index(op.f("ix_facility_inspection_facility_id"), table_name="facility_inspection")
    op.drop_table("facility_inspection")
    op.drop_index(op.f("ix_facility_region_code"), table_name="facility")
    op.drop_table("facility")
