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


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    now = datetime.now(UTC)
    json_object, json_array = (
        ("json_build_object", "json_build_array") if postgres else ("json_object", "json_array")
    )
    op.execute(
        text(
            "INSERT INTO audit_event (at, actor_id, actor_label, action, object_type, "
            "object_id, region_code, changes) "
            "SELECT :now, NULL, 'migration 0007', 'risk_person.region', 'risk_person', "
            "CAST(r.id AS VARCHAR(64)), p.region_code, "
            f"{json_object}('region_code', {json_array}(r.region_code, p.region_code), "
            "'reason', 'the registry moved the person before version 0007') "
            "FROM risk_person r JOIN person p ON p.id = r.person_id "
            "WHERE r.region_code <> p.region_code ORDER BY r.id"
        ).bindparams(
            now=now
            if postgres
            else now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    )
    for table in ("risk_person", "exposure"):
        op.execute(
            f"UPDATE {table} SET region_code = p.region_code FROM person p "
            f"WHERE p.id = {table}.person_id AND {table}.region_code <> p.region_code"
        )


def downgrade() -> None:
    """Nothing to undo: the regions are the registry's."""
