"""Who sees which facility. Every quarantine query goes through here, so
the rule is enforced once: a user sees the facilities (and their rooms,
stays and alerts) inside their jurisdiction; a facility manager, only those
of them listed for them in ``facility_staff``. Out-of-scope objects answer
"not found" (DESIGN.md section 4)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from fangkong.access.rules import Role, covers
from fangkong.access.service import Actor, SelectT, scope
from fangkong.errors import NotFound
from fangkong.quarantine.models import Facility, FacilityStaff


def staffed_facility_ids(session: Session, actor: Actor) -> set[int] | None:
    """The facilities a facility manager works for; ``None`` for any other
    role (limited by jurisdiction alone)."""
    if actor.role != Role.FACILITY_MANAGER:
        return None
    return set(
        session.scalars(
            select(FacilityStaff.facility_id).where(FacilityStaff.user_id == actor.user_id)
        )
    )


def scope_facilities(
    session: Session,
    stmt: SelectT,
    actor: Actor,
    region_column: ColumnElement[str] | Any,
    facility_column: ColumnElement[int | None] | Any,
) -> SelectT:
    """Restrict a query over facility-bound rows to what ``actor`` may see."""
    stmt = scope(stmt, region_column, actor)
    staffed = staffed_facility_ids(session, actor)
    if staffed is not None:
        stmt = stmt.where(facility_column.in_(staffed or {-1}))
    return stmt


def get_facility(session: Session, actor: Actor, facility_id: int) -> Facility:
    facility = session.get(Facility, facility_id)
    if facility is None or not may_see_facility(session, actor, facility):
        raise NotFound("facility not found")
    return facility


def may_see_facility(session: Session, actor: Actor, facility: Facility) -> bool:
    if not covers(actor.jurisdiction, facility.region_code):
        return False
    staffed = staffed_facility_ids(session, actor)
    return staffed is None or facility.id in staffed
