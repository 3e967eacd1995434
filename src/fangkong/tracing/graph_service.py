"""The exposure graph in the database: the secondary-contact risk persons
kept in line with it, and the release of a risk person (which can change
it). The clusters of cases are in :mod:`fangkong.tracing.clusters`.

Secondary contacts are computed, never typed (rules in
:mod:`fangkong.tracing.graph`). :func:`refresh_secondary_contacts` makes
the records match the whole graph: a new secondary contact gets a risk
person of category ``secondary`` from channel ``investigation`` whose
source names the close contact (``close contact person <id>``); a companion
or general contact is raised to secondary; a released record is opened
again on evidence newer than its release (the rule:
:func:`~fangkong.tracing.graph.plan_refresh`); a record the graph no longer supports
leaves the category — released with reason ``not_a_contact`` (never
deleted) when the graph was its only reason, otherwise back to the most
serious category its other reports gave. The derived records follow the
graph into every county: a secondary contact is a fact of the graph, not a
user's choice, and the county where they live must find them.

The whole-graph refresh reads the edges and the risk persons in bulk
(:mod:`fangkong.tracing.graph_read`) and writes under a table lock that
keeps other writers of risk persons out until it commits
(:mod:`fangkong.tracing.graph_write`): the records it creates get their ids
up front, so they and their sources go in by ``COPY`` of rows made here
(counted in one audit event per county, as an import records the persons
it creates); the records it raises, reopens or lets go by set-based
statements. The services that change the graph call
:func:`update_secondary_contacts_around` with the persons whose edges or
status changed: it looks only at them and the persons exposed to them, and
goes through ``note_risk_person`` one person at a time, inside the caller's
transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require
from fangkong.bulkio import lock_for_append
from fangkong.db import forget_loaded
from fangkong.errors import Conflict, InvalidInput
from fangkong.tracing.graph import Ids, ids
from fangkong.tracing.graph_read import Graph, plan_of, read_around, read_whole
from fangkong.tracing.graph_write import (
    ADDED_CHANGES,
    CHANGED,
    LEFT_CHANGES,
    add_in_bulk,
    add_one_by_one,
    audit_graph_changes,
    settle_leaving,
)
from fangkong.tracing.models import RELEASE_REASONS, RiskPerson, RiskSource

# A county's code: the first six digits of its communities' (regions/catalog.py).
COUNTY_DIGITS = 6


class SecondaryRefresh(NamedTuple):
    added: int  # persons who became secondary contacts
    released: int  # persons who stopped being secondary (released, or back to another category)


class _Applied(NamedTuple):
    refresh: SecondaryRefresh
    made: pa.Table  # the records made in bulk (CHANGED)
    at: datetime  # the time written on them and their sources


def _apply(session: Session, conn: Connection, graph: Graph, *, bulk: bool) -> _Applied:
    """The plan written. Records made in bulk (a whole-graph refresh) have no
    audit event each, as the persons of a registry import have none: their
    source (the graph's report, received at the refresh's time) and the
    refresh's events record them (:func:`refresh_secondary_contacts`).
    Every record that existed and changed has its own."""
    plan = plan_of(graph)
    now = clock.now()
    changed = made = CHANGED.empty_table()
    if plan.add_person_id.size and bulk:
        # Under the refresh's lock on risk_person, a registry move waits and
        # then takes these records along: the exposures' regions will do.
        changed, made = add_in_bulk(conn, plan, graph.regions_of(plan.add_person_id), now)
    elif plan.add_person_id.size:
        changed = add_one_by_one(session, plan, now)
    left = settle_leaving(conn, plan, now)
    audit_graph_changes(conn, changed, ADDED_CHANGES, now)
    audit_graph_changes(conn, left, LEFT_CHANGES, now)
    forget_loaded(session, RiskPerson, RiskSource)  # the statements wrote behind its back
    return _Applied(SecondaryRefresh(int(plan.add_person_id.size), left.num_rows), made, now)


def _made_by_county(made: pa.Table) -> dict[str, int]:
    """How many records were made in each county (the first six digits of
    their regions)."""
    counties = pc.utf8_slice_codeunits(made.column("region_code"), 0, COUNTY_DIGITS)
    counted = pc.value_counts(counties)
    return {
        str(c): int(n)
        for c, n in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        )
    }


def update_secondary_contacts_around(
    session: Session, person_ids: list[int] | Ids
) -> SecondaryRefresh:
    """Bring the secondary contacts in line with the graph after the status
    or the edges of ``person_ids`` changed: they and the persons exposed to
    them are looked at. A step inside a service: adds to the caller's
    transaction and does not commit (the caller checked the permission)."""
    session.flush()
    conn = session.connection()
    return _apply(session, conn, read_around(conn, ids(person_ids)), bulk=False).refresh


def refresh_secondary_contacts(session: Session, actor: Actor) -> SecondaryRefresh:
    """Make every secondary-contact risk person match the whole exposure
    graph. Audited by one event in the actor's jurisdiction with the counts
    (``created``: the records made, which have no event each) and one per
    county where records were made, with that county's count and the time
    on them, so each county's own audit log shows them. Idempotent."""
    require(actor, Permission.TRACING_MANAGE)
    session.flush()
    conn = session.connection()
    lock_for_append(conn, ["risk_person", "risk_source"])
    applied = _apply(session, conn, read_whole(conn), bulk=True)
    record_audit(
        session,
        actor,
        "tracing.secondary_contacts.refresh",
        "exposure_graph",
        "secondary_contacts",
        actor.jurisdiction or None,
        {**applied.refresh._asdict(), "created": applied.made.num_rows},
    )
    for county, made in sorted(_made_by_county(applied.made).items()):
        record_audit(
            session,
            actor,
            "tracing.secondary_contacts.created",
            "exposure_graph",
            "secondary_contacts",
            county,
            {"created": made, "at": applied.at.isoformat()},
        )
    session.commit()
    return applied.refresh


# --- releasing a risk person ------------------------------------------------------


def end_risk_record(risk: RiskPerson, reason: str, now: datetime) -> None:
    """Release a risk person's record (nothing is deleted)."""
    risk.status = "released"
    risk.released_at = now
    risk.release_reason = reason
    risk.updated_at = now


def release_risk_person(
    session: Session, actor: Actor, risk_person_id: int, reason: str
) -> RiskPerson:
    """Release a risk person with a reason and bring the secondary contacts
    in line: releasing a close contact releases the persons who were
    secondary only through them. Every release goes through here
    (``control.set_risk_status`` calls it)."""
    require(actor, Permission.TRACING_MANAGE)
    if reason not in RELEASE_REASONS[1:]:
        raise InvalidInput("reason", f"a release reason is one of {', '.join(RELEASE_REASONS[1:])}")
    risk = session.get(RiskPerson, risk_person_id)
    ensure_in_scope(actor, risk.region_code if risk else None, "risk person")
    assert risk is not None
    if risk.status == "released":
        raise Conflict("该风险人员已解除 (the risk person is already released)")
    before = risk.status
    end_risk_record(risk, reason, clock.now())
    refreshed = update_secondary_contacts_around(session, [risk.person_id])
    record_audit(
        session,
        actor,
        "risk_person.release",
        "risk_person",
        risk.id,
        risk.region_code,
        {
            "status": [before, "released"],
            "reason": reason,
            "secondary_added": refreshed.added,
            "secondary_released": refreshed.released,
        },
    )
    session.commit()
    return risk
