"""Cases and contact tracing: cases, investigations, places, exposures,
risk persons and their sources, pending matches, self-reports,
cross-region requests and their items. See tracing/models.py.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fangkong.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cross_region_request",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "from_region",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "to_region",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("deadline_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_by", sa.Integer(), nullable=True),
        sa.Column("accepted_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('sent', 'accepted', 'done', 'exported')",
            name=op.f("ck_cross_region_request_status"),
        ),
        sa.ForeignKeyConstraint(
            ["sent_by"],
            ["user_account.id"],
            name=op.f("fk_cross_region_request_sent_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cross_region_request")),
    )
    op.create_index(
        op.f("ix_cross_region_request_from_region"),
        "cross_region_request",
        ["from_region"],
        unique=False,
    )
    op.create_index(
        op.f("ix_cross_region_request_to_region"),
        "cross_region_request",
        ["to_region"],
        unique=False,
    )
    op.create_table(
        "pending_match",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("candidate_ids", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.Column("received_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "resolved_person_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.CheckConstraint(
            "channel IN ('self_report', 'screening', 'request', 'bigdata', 'investigation')",
            name=op.f("ck_pending_match_channel"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'resolved', 'dismissed')", name=op.f("ck_pending_match_status")
        ),
        sa.ForeignKeyConstraint(
            ["import_batch_id"],
            ["import_batch.id"],
            name=op.f("fk_pending_match_import_batch_id_import_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["resolved_person_id"],
            ["person.id"],
            name=op.f("fk_pending_match_resolved_person_id_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_match")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_pending_match_fingerprint")),
    )
    op.create_index(
        op.f("ix_pending_match_import_batch_id"), "pending_match", ["import_batch_id"], unique=False
    )
    op.create_index(
        op.f("ix_pending_match_region_code"), "pending_match", ["region_code"], unique=False
    )
    op.create_table(
        "risk_person",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_exposure_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("identified_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("controlled_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("released_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.String(length=16), nullable=False),
        sa.Column("assigned_to", sa.Integer(), nullable=True),
        sa.Column("updated_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'released') = (released_at IS NOT NULL)",
            name=op.f("ck_risk_person_released_at"),
        ),
        sa.CheckConstraint(
            "category IN ('close', 'secondary', 'companion', 'general')",
            name=op.f("ck_risk_person_category"),
        ),
        sa.CheckConstraint(
            "measure IN ('centralized_quarantine', 'home_quarantine', 'health_monitoring', 'none')",
            name=op.f("ck_risk_person_measure"),
        ),
        sa.CheckConstraint(
            "release_reason IN ('', 'completed', 'not_a_contact', 'became_case', 'error')",
            name=op.f("ck_risk_person_release_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('to_find', 'found', 'under_measure', 'outside_region', 'released')",
            name=op.f("ck_risk_person_status"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"],
            ["user_account.id"],
            name=op.f("fk_risk_person_assigned_to_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_person")),
        sa.UniqueConstraint("person_id", name=op.f("uq_risk_person_person_id")),
    )
    op.create_index(
        op.f("ix_risk_person_region_code"), "risk_person", ["region_code"], unique=False
    )
    op.create_index(
        "ix_risk_person_status_deadline", "risk_person", ["status", "deadline_at"], unique=False
    )
    op.create_table(
        "request_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id_number",
            sa.String(length=32).with_variant(sa.VARCHAR(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "phone",
            sa.String(length=20).with_variant(sa.VARCHAR(length=20, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("last_exposure_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "risk_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('', 'controlled', 'not_found', 'not_ours')",
            name=op.f("ck_request_item_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["cross_region_request.id"],
            name=op.f("fk_request_item_request_id_cross_region_request"),
        ),
        sa.ForeignKeyConstraint(
            ["risk_person_id"],
            ["risk_person.id"],
            name=op.f("fk_request_item_risk_person_id_risk_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_item")),
    )
    op.create_index(
        op.f("ix_request_item_request_id"), "request_item", ["request_id"], unique=False
    )
    op.create_table(
        "risk_source",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "risk_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("reported_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.Column("received_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "category IN ('close', 'secondary', 'companion', 'general')",
            name=op.f("ck_risk_source_category"),
        ),
        sa.CheckConstraint(
            "channel IN ('self_report', 'screening', 'request', 'bigdata', 'investigation')",
            name=op.f("ck_risk_source_channel"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_source")),
        sa.UniqueConstraint(
            "risk_person_id", "fingerprint", name=op.f("uq_risk_source_risk_person_id")
        ),
    )
    op.create_table(
        "tracing_case",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("detection_route", sa.String(length=32), nullable=False),
        sa.Column("sampled_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("result_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("onset_date", sa.Date(), nullable=True),
        sa.Column("confirmed_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("controlled", sa.Boolean(), nullable=False),
        sa.Column("control_basis", sa.String(length=32), nullable=False),
        sa.Column(
            "positive_person_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("reported_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "classification IN ('confirmed', 'asymptomatic')",
            name=op.f("ck_tracing_case_classification"),
        ),
        sa.CheckConstraint(
            "control_basis IN ('', 'quarantine', 'sealed_zone', 'controlled_zone', "
            "'known_contact')",
            name=op.f("ck_tracing_case_control_basis"),
        ),
        sa.CheckConstraint(
            "controlled = (control_basis <> '')", name=op.f("ck_tracing_case_controlled_has_basis")
        ),
        sa.CheckConstraint(
            "detection_route IN ('mass_testing', 'pool_followup', 'quarantine_screening', "
            "'contact_screening', 'fever_clinic', 'hospital', 'self_report', 'other')",
            name=op.f("ck_tracing_case_detection_route"),
        ),
        sa.CheckConstraint(
            "severity IN ('', 'mild', 'moderate', 'severe', 'critical')",
            name=op.f("ck_tracing_case_severity"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_tracing_case_created_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_tracing_case_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["positive_person_id"],
            ["positive_person.id"],
            name=op.f("fk_tracing_case_positive_person_id_positive_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracing_case")),
        sa.UniqueConstraint("person_id", name=op.f("uq_tracing_case_person_id")),
        sa.UniqueConstraint("positive_person_id", name=op.f("uq_tracing_case_positive_person_id")),
    )
    op.create_index(
        op.f("ix_tracing_case_confirmed_at"), "tracing_case", ["confirmed_at"], unique=False
    )
    op.create_index(
        op.f("ix_tracing_case_region_code"), "tracing_case", ["region_code"], unique=False
    )
    op.create_table(
        "investigation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("opened_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_investigation_status")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["tracing_case.id"], name=op.f("fk_investigation_case_id_tracing_case")
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"], ["user_account.id"], name=op.f("fk_investigation_opened_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigation")),
        sa.UniqueConstraint("case_id", name=op.f("uq_investigation_case_id")),
    )
    op.create_index(
        op.f("ix_investigation_region_code"), "investigation", ["region_code"], unique=False
    )
    op.create_table(
        "exposure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "source_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("setting", sa.String(length=16), nullable=False),
        sa.Column("last_exposure_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("transmission", sa.Boolean(), nullable=False),
        sa.Column(
            "investigation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("recorded_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "setting IN ('household', 'work', 'school', 'transport', 'social', 'medical', 'other')",
            name=op.f("ck_exposure_setting"),
        ),
        sa.CheckConstraint("source_person_id <> person_id", name=op.f("ck_exposure_not_self")),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            ["investigation.id"],
            name=op.f("fk_exposure_investigation_id_investigation"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_exposure_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["source_person_id"], ["person.id"], name=op.f("fk_exposure_source_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposure")),
        sa.UniqueConstraint(
            "source_person_id", "person_id", name=op.f("uq_exposure_source_person_id")
        ),
    )
    op.create_index(
        op.f("ix_exposure_investigation_id"), "exposure", ["investigation_id"], unique=False
    )
    op.create_index(op.f("ix_exposure_person_id"), "exposure", ["person_id"], unique=False)
    op.create_index(op.f("ix_exposure_region_code"), "exposure", ["region_code"], unique=False)
    op.create_index(
        op.f("ix_exposure_source_person_id"), "exposure", ["source_person_id"], unique=False
    )
    op.create_table(
        "place",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "investigation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("arrived_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("left_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            ["investigation.id"],
            name=op.f("fk_place_investigation_id_investigation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place")),
    )
    op.create_index(op.f("ix_place_investigation_id"), "place", ["investigation_id"], unique=False)
    op.create_index(op.f("ix_place_region_code"), "place", ["region_code"], unique=False)
    op.create_table(
        "self_report",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "phone",
            sa.String(length=20).with_variant(sa.VARCHAR(length=20, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "id_number",
            sa.String(length=32).with_variant(sa.VARCHAR(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("place_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("exposed_on", sa.Date(), nullable=False),
        sa.Column("submitted_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("triaged_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("triaged_by", sa.Integer(), nullable=True),
        sa.Column(
            "risk_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "place_id IS NOT NULL OR note <> ''", name=op.f("ck_self_report_place_or_note")
        ),
        sa.CheckConstraint(
            "status IN ('new', 'accepted', 'dismissed')", name=op.f("ck_self_report_status")
        ),
        sa.ForeignKeyConstraint(
            ["place_id"], ["place.id"], name=op.f("fk_self_report_place_id_place")
        ),
        sa.ForeignKeyConstraint(
            ["risk_person_id"],
            ["risk_person.id"],
            name=op.f("fk_self_report_risk_person_id_risk_person"),
        ),
        sa.ForeignKeyConstraint(
            ["triaged_by"], ["user_account.id"], name=op.f("fk_self_report_triaged_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_report")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_self_report_fingerprint")),
    )
    op.create_index(
        "ix_self_report_client_submitted",
        "self_report",
        ["client_hash", "submitted_at"],
        unique=False,
    )
    op.create_index(
        "ix_self_report_phone_submitted", "self_report", ["phone", "submitted_at"], unique=False
    )
    op.create_index(
        op.f("ix_self_report_region_code"), "self_report", ["region_code"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_self_report_region_code"), table_name="self_report")
    op.drop_index("ix_self_report_phone_submitted", table_name="self_report")
    op.drop_index("ix_self_report_client_submitted", table_name="self_report")
    op.drop_table("self_report")
    op.drop_index(op.f("ix_place_region_code"), table_name="place")
    op.drop_index(op.f("ix_place_investigation_id"), table_name="place")
    op.drop_table("place")
    op.drop_index(op.f("ix_exposure_source_person_id"), table_name="exposure")
    op.drop_index(op.f("ix_exposure_region_code"), table_name="exposure")
    op.drop_index(op.f("ix_exposure_person_id"), table_name="exposure")
    op.drop_index(op.f("ix_exposure_investigation_id"), table_name="exposure")
    op.drop_table("exposure")
    op.drop_index(op.f("ix_investigation_region_code"), table_name="investigation")
    op.drop_table("investigation")
    op.drop_index(op.f("ix_tracing_case_region_code"), table_name="tracing_case")
    op.drop_index(op.f("ix_tracing_case_confirmed_at"), table_name="tracing_case")
    op.drop_table("tracing_case")
    op.drop_table("risk_source")
    op.drop_index(op.f("ix_request_item_request_id"), table_name="request_item")
    op.drop_table("request_item")
    op.drop_index("ix_risk_person_status_deadline", table_name="risk_person")
    op.drop_index(op.f("ix_risk_person_region_code"), table_name="risk_person")
    op.drop_table("risk_person")
    op.drop_index(op.f("ix_pending_match_region_code"), table_name="pending_match")
    op.drop_index(op.f("ix_pending_match_import_batch_id"), table_name="pending_match")
    op.drop_table("pending_match")
    op.drop_index(op.f("ix_cross_region_request_to_region"), table_name="cross_region_request")
    op.drop_index(op.f("ix_cross_region_request_from_region"), table_name="cross_region_request")
    op.drop_table("cross_region_request")
