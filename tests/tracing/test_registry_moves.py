"""Tracing follows the registry: a registry import that moves a person to
another community takes their exposures and their risk record with them,
and every record made or opened again afterwards is in the new community.
(The tracing tests' teardown also checks that every exposure and every
risk record is in its person's region: tests/testing/conftest.py.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.people.importing import ImportResult, import_people
from fangkong.tracing.contacts import record_transmission
from fangkong.tracing.control import assign_risk_persons
from fangkong.tracing.graph_service import (
    refresh_secondary_contacts,
    release_risk_person,
    update_secondary_contacts_around,
)
from fangkong.tracing.models import Exposure, RiskPerson
from fangkong.tracing.risk import note_risk_person
from tests.factories import Row, registry_csv
from tests.testing.conftest import A1, B1, FrozenClock, Registry, Resident, registry_rows
from tests.tracing.test_graph import make_case


def registry_row(who: Resident) -> Row:
    """The person's row of the registry file the tests import (names are
    unique in it; identity numbers are drawn afresh)."""
    row = next(r for _, r in registry_rows() if r.name == who.name)
    row.id_number = who.id_number
    return row


def move(session: Session, actor: Actor, who: Resident, community: str) -> ImportResult:
    """Re-import the person's registry row with another community."""
    row = registry_row(who)
    row.region_code = community
    result = import_people(session, actor, registry_csv([row]), "move.csv")
    assert (result.updated, result.rejected) == (1, 0), result.rejects
    return result


def note(
    session: Session, who: Resident, category: str = "close", source: str = "社区"
) -> RiskPerson:
    return note_risk_person(
        session,
        person_id=who.id,
        region_code=who.region_code,
        category=category,
        channel="screening",
        source=source,
        reported_at=clock.now(),
    ).risk_person


def edge(session: Session, source: Resident, target: Resident) -> None:
    session.add(
        Exposure(
            source_person_id=source.id,
            person_id=target.id,
            region_code=target.region_code,
            setting="social",
            last_exposure_at=clock.now() - timedelta(minutes=30),
            transmission=False,
            recorded_at=clock.now(),
        )
    )


def record(session: Session, risk_id: int) -> RiskPerson:
    found = session.get(RiskPerson, risk_id)
    assert found is not None
    return found


def moves_audited(session: Session) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "risk_person.region")
            .order_by(AuditEvent.object_id)
        )
    )


def test_a_move_takes_the_exposures_and_the_records_along(
    session: Session, county_commander: Actor, registry: Registry
) -> None:
    close, moving, released = registry.a1[0], registry.a1[1], registry.a1[2]
    open_record = note(session, moving, "general")
    closed_record = note(session, released, "general")
    edge(session, close, moving)  # into the moving person: moves
    edge(session, moving, close)  # from them: stays with the person it exposed
    session.commit()
    release_risk_person(session, county_commander, closed_record.id, "completed")

    first = move(session, county_commander, moving, B1)
    second = move(session, county_commander, released, B1)
    assert (first.risk_records_moved, second.risk_records_moved) == (1, 1)

    assert record(session, open_record.id).region_code == B1
    assert record(session, closed_record.id).region_code == B1  # the person's one record
    regions = dict(
        session.execute(
            select(Exposure.person_id, Exposure.region_code).where(
                Exposure.person_id.in_([moving.id, close.id])
            )
        ).all()
    )
    assert regions == {moving.id: B1, close.id: A1}
    events = moves_audited(session)
    assert [(e.object_id, e.region_code, e.changes) for e in events] == [
        (
            str(risk.id),
            B1,
            {
                "region_code": [A1, B1],
                "reason": "the registry moved the person",
                "import_batch": result.batch_id,
            },
        )
        for risk, result in sorted(
            [(open_record, first), (closed_record, second)], key=lambda pair: str(pair[0].id)
        )
    ]
    assert {e.actor_label for e in events} == {county_commander.username}


def test_an_import_that_moves_nobody_moves_nothing(
    session: Session, county_commander: Actor, registry: Registry
) -> None:
    who = registry.a1[1]
    risk = note(session, who)
    session.commit()
    row = registry_row(who)
    row.phone = "13900000000"
    result = import_people(session, county_commander, registry_csv([row]), "phone.csv")
    assert (result.updated, result.risk_records_moved) == (1, 0)
    assert record(session, risk.id).region_code == A1
    assert moves_audited(session) == []


def test_a_worker_who_cannot_see_the_new_community_loses_the_assignment(
    session: Session,
    county_commander: Actor,
    registry: Registry,
    make_actor: Callable[..., Actor],
) -> None:
    community_worker = make_actor("community_worker", A1)
    county_worker = make_actor("community_worker", county_commander.jurisdiction)
    local, countywide = registry.a1[1], registry.a1[2]
    for who, worker in ((local, community_worker), (countywide, county_worker)):
        assign_risk_persons(session, county_commander, [note(session, who).id], worker.user_id)
    for who in (local, countywide):
        move(session, county_commander, who, B1)
    assigned = dict(
        session.execute(
            select(RiskPerson.person_id, RiskPerson.assigned_to).where(
                RiskPerson.person_id.in_([local.id, countywide.id])
            )
        ).all()
    )
    assert assigned == {local.id: None, countywide.id: county_worker.user_id}
    unassigned = [e.changes.get("assigned_to") for e in moves_audited(session)]
    assert [community_worker.user_id, None] in unassigned
    assert unassigned.count(None) == 1


def test_a_record_opened_again_after_a_move_is_in_the_new_community(
    session: Session, county_commander: Actor, registry: Registry, frozen: FrozenClock
) -> None:
    who = registry.a1[1]
    risk = note(session, who)
    session.commit()
    release_risk_person(session, county_commander, risk.id, "completed")
    move(session, county_commander, who, B1)
    frozen.advance(hours=1)
    again = note_risk_person(
        session,
        person_id=who.id,
        region_code=B1,
        category="close",
        channel="screening",
        source="又报",
        reported_at=clock.now(),
    ).risk_person
    session.commit()
    assert (again.id, again.status, again.region_code) == (risk.id, "to_find", B1)


@pytest.mark.parametrize("whole", [True, False], ids=["whole_graph", "around"])
def test_a_secondary_contact_named_after_a_move_is_in_the_new_community(
    session: Session,
    county_commander: Actor,
    registry: Registry,
    frozen: FrozenClock,
    whole: bool,
) -> None:
    """The exposure was named while they lived in A1 and the registry has
    moved them since; others are made, raised and opened again in the same
    refresh, in their own communities."""
    close, moved, released = registry.a1[0], registry.a1[1], registry.a1[3]
    raised, fresh = registry.a2[0], registry.gy[0]
    note(session, close)
    note(session, raised, "general")
    old = note(session, released, "general")
    session.commit()
    release_risk_person(session, county_commander, old.id, "completed")
    frozen.advance(minutes=10)  # exposures named after the release open it again
    for target in (moved, released, raised, fresh):
        edge(session, close, target)
    session.commit()
    move(session, county_commander, moved, B1)
    move(session, county_commander, released, B1)
    frozen.advance(hours=1)
    if whole:
        refresh_secondary_contacts(session, county_commander)
    else:
        update_secondary_contacts_around(session, [close.id])
        session.commit()
    found = {
        person_id: (category, status, region)
        for person_id, category, status, region in session.execute(
            select(
                RiskPerson.person_id, RiskPerson.category, RiskPerson.status, RiskPerson.region_code
            )
        )
    }
    assert found[moved.id] == ("secondary", "to_find", B1)
    assert found[released.id] == ("secondary", "to_find", B1)
    assert found[raised.id] == ("secondary", "to_find", raised.region_code)
    assert found[fresh.id] == ("secondary", "to_find", fresh.region_code)


def test_a_transmission_recorded_after_a_move_is_in_the_new_community(
    session: Session, county_commander: Actor, epidemiologist: Actor, registry: Registry
) -> None:
    infector, infectee = registry.a1[0], registry.a1[1]

    first, second = (
        make_case(session, epidemiologist, infector),
        make_case(session, epidemiologist, infectee),
    )
    move(session, county_commander, infectee, B1)
    link = record_transmission(
        session,
        epidemiologist,
        infector_case_id=first.id,
        infectee_case_id=second.id,
        setting="household",
    )
    assert link.region_code == B1
