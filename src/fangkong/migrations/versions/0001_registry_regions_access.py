"""registry, regions, access

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fangkong.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "region",
        sa.Column(
            "code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column(
            "parent_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "prefix",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["region.code"], name=op.f("fk_region_parent_code_region")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_region")),
        sa.UniqueConstraint("prefix", name=op.f("uq_region_prefix")),
    )
    with op.batch_alter_table("region", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_region_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_region_parent_code"), ["parent_code"], unique=False)

    op.create_table(
        "risk_zone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("lifting_criteria", sa.Text(), nullable=False),
        sa.Column("created_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "level IN ('sealed', 'controlled', 'precaution')", name=op.f("ck_risk_zone_level")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_zone")),
    )
    with op.batch_alter_table("risk_zone", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_zone_region_code"), ["region_code"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column(
            "jurisdiction",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    op.create_table(
        "address",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "building",
            sa.String(length=50).with_variant(sa.VARCHAR(length=50, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "unit",
            sa.String(length=50).with_variant(sa.VARCHAR(length=50, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "room",
            sa.String(length=50).with_variant(sa.VARCHAR(length=50, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_address_region_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address")),
    )
    op.create_index(
        "uq_address_region_code",
        "address",
        ["region_code", "building", "unit", "room"],
        unique=True,
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_api_token_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_token_token_sha256")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_audit_event_actor_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_event_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "import_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column(
            "jurisdiction",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("started_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("notices", sa.JSON(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_import_batch_actor_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batch")),
    )
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_batch_jurisdiction"), ["jurisdiction"], unique=False
        )

    op.create_table(
        "household",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "code",
            sa.String(length=200).with_variant(sa.VARCHAR(length=200, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "address_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["address_id"], ["address.id"], name=op.f("fk_household_address_id_address")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
    )
    op.create_index("uq_household_region_code", "household", ["region_code", "code"], unique=True)
    op.create_table(
        "import_reject",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("column", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("row_values", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["import_batch.id"], name=op.f("fk_import_reject_batch_id_import_batch")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_reject")),
    )
    with op.batch_alter_table("import_reject", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_reject_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "risk_zone_area",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "address_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "(region_code IS NULL) <> (address_id IS NULL)",
            name=op.f("ck_risk_zone_area_region_or_address"),
        ),
        sa.ForeignKeyConstraint(
            ["address_id"], ["address.id"], name=op.f("fk_risk_zone_area_address_id_address")
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_risk_zone_area_region_code_region")
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["risk_zone.id"], name=op.f("fk_risk_zone_area_zone_id_risk_zone")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_zone_area")),
    )
    with op.batch_alter_table("risk_zone_area", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_zone_area_address_id"), ["address_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_zone_area_region_code"), ["region_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risk_zone_area_zone_id"), ["zone_id"], unique=False)

    op.create_table(
        "person",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id_type", sa.String(length=32), nullable=False),
        sa.Column(
            "id_number",
            sa.String(length=32).with_variant(sa.VARCHAR(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "name",
            sa.String(length=100).with_variant(sa.VARCHAR(length=100, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column(
            "phone",
            sa.String(length=20).with_variant(sa.VARCHAR(length=20, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "address_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "household_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("resident", sa.Boolean(), nullable=False),
        sa.Column(
            "merged_into_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sex IN ('M', 'F')", name=op.f("ck_person_sex")),
        sa.ForeignKeyConstraint(
            ["address_id"], ["address.id"], name=op.f("fk_person_address_id_address")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_person_household_id_household")
        ),
        sa.ForeignKeyConstraint(
            ["import_batch_id"],
            ["import_batch.id"],
            name=op.f("fk_person_import_batch_id_import_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["person.id"], name=op.f("fk_person_merged_into_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
    )
    op.create_index("uq_person_id_number", "person", ["id_number"], unique=True)
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_phone"), ["phone"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_region_code"), ["region_code"], unique=False)

    op.create_table(
        "duplicate_suspect",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_a_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "person_b_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column(
            "region_code",
            sa.String(length=12).with_variant(sa.VARCHAR(length=12, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution_note", sa.Text(), nullable=False),
        sa.Column("found_at", fangkong.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", fangkong.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_a_id"], ["person.id"], name=op.f("fk_duplicate_suspect_person_a_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["person_b_id"], ["person.id"], name=op.f("fk_duplicate_suspect_person_b_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["user_account.id"],
            name=op.f("fk_duplicate_suspect_resolved_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_suspect")),
        sa.UniqueConstraint(
            "person_a_id", "person_b_id", "reason", name=op.f("uq_duplicate_suspect_person_a_id")
        ),
    )
    with op.batch_alter_table("duplicate_suspect", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duplicate_suspect_person_a_id"), ["person_a_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_duplicate_suspect_person_b_id"), ["person_b_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_duplicate_suspect_region_code"), ["region_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("duplicate_suspect", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_suspect_region_code"))
        batch_op.drop_index(batch_op.f("ix_duplicate_suspect_person_b_id"))
        batch_op.drop_index(batch_op.f("ix_duplicate_suspect_person_a_id"))

    op.drop_table("duplicate_suspect")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_region_code"))
        batch_op.drop_index(batch_op.f("ix_person_phone"))
        batch_op.drop_index(batch_op.f("ix_person_name"))
        batch_op.drop_index(batch_op.f("ix_person_household_id"))

    op.drop_table("person")
    with op.batch_alter_table("risk_zone_area", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_zone_area_zone_id"))
        batch_op.drop_index(batch_op.f("ix_risk_zone_area_region_code"))
        batch_op.drop_index(batch_op.f("ix_risk_zone_area_address_id"))

    op.drop_table("risk_zone_area")
    with op.batch_alter_table("import_reject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_reject_batch_id"))

    op.drop_table("import_reject")
    op.drop_table("household")
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_batch_jurisdiction"))

    op.drop_table("import_batch")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_region_code"))
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))

    op.drop_table("audit_event")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("address")
    op.drop_table("user_account")
    with op.batch_alter_table("risk_zone", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_zone_region_code"))

    op.drop_table("risk_zone")
    with op.batch_alter_table("region", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_region_parent_code"))
        batch_op.drop_index(batch_op.f("ix_region_name"))

    op.drop_table("region")
