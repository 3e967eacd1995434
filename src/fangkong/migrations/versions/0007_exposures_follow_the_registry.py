"""Tracing records in their persons' current regions: from this version the
registry import moves a person's exposures and risk record with them
(tracing/registry_moves.py), and the whole-graph refresh reads a new
secondary contact's region from the exposures. Records and exposures of
persons moved by an earlier import are brought in line here; each record
moved gets its audit event, as the import would have written it.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# An assignee who cannot see the person's community (a jurisdiction is a
# prefix of the codes it covers); as tracing/registry_moves.py.
UNSEEN = """r.assigned_to IS NOT NULL AND NOT EXISTS (SELECT 1 FROM user_account u
    WHERE u.id = r.assigned_to
    AND substr(p.region_code, 1, length(u.jurisdiction)) = u.jurisdiction)"""
MOVED = (
    "FROM risk_person r JOIN person p ON p.id = r.person_id WHERE r.region_code <> p.region_code"
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    now = datetime.now(UTC)
    at = now if postgres else now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    json_object, json_array = (
        ("json_build_object", "json_build_array") if postgres else ("json_object", "json_array")
    )
    region = f"'region_code', {json_array}(r.region_code, p.region_code)"
    reason = "'reason', 'the registry moved the person before version 0007'"
    for unseen, changes in (
        (f"NOT ({UNSEEN})", f"{json_object}({region}, {reason})"),
        (
            UNSEEN,
            f"{json_object}({region}, {reason}, 'assigned_to', {json_array}(r.assigned_to, NULL))",
        ),
    ):
        op.execute(
            text(
                "INSERT INTO audit_event (at, actor_id, actor_label, action, object_type, "
                "object_id, region_code, changes) "
                "SELECT :now, NULL, 'migration 0007', 'risk_person.region', 'risk_person', "
                f"CAST(r.id AS VARCHAR(64)), p.region_code, {changes} "
                f"{MOVED} AND {unseen} ORDER BY r.id"
            ).bindparams(now=at)
        )
    op.execute(
        text(
            "UPDATE risk_person SET region_code = p.region_code, updated_at = :now, "
            f"assigned_to = CASE WHEN {UNSEEN.replace('r.assigned_to', 'risk_person.assigned_to')} "
            "THEN NULL ELSE risk_person.assigned_to END "
            "FROM person p WHERE p.id = risk_person.person_id "
            "AND risk_person.region_code <> p.region_code"
        ).bindparams(now=at)
    )
    op.execute(
        "UPDATE exposure SET region_code = p.region_code FROM person p "
        "WHERE p.id = exposure.person_id AND exposure.region_code <> p.region_code"
    )


def downgrade() -> None:
    """Nothing to undo: the regions are the registry's."""
