"""Tracing follows the registry: a registry import that moves a person to
another community takes their exposures and their open risk record with
them, and a secondary contact made afterwards is in the new community."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.people.importing import import_people
from fangkong.tracing.graph_service import (
    refresh_secondary_contacts,
    release_risk_person,
    update_secondary_contacts_around,
)
from fangkong.tracing.models import Exposure, RiskPerson
from fangkong.tracing.risk import note_risk_person
from tests.factories import Row, registry_csv
from tests.testing.conftest import Registry, Resident, registry_rows


def registry_row(who: Resident) -> Row:
    """The person's row of the registry file the tests import (names are
    unique in it; identity numbers are drawn afresh)."""
    row = next(r for _, r in registry_rows() if r.name == who.name)
    row.id_number = who.id_number
    return row


def move(session: Session, actor: Actor, who: Resident, community: str) -> None:
    """Re-import the person's registry row with another community."""
    row = registry_row(who)
    row.region_code = community
    result = import_people(session, actor, registry_csv([row]), "move.csv")
    assert (result.updated, result.rejected) == (1, 0), result.rejects


def note(session: Session, who: Resident, category: str = "close") -> RiskPerson:
    return note_risk_person(
        session,
        person_id=who.id,
        region_code=who.region_code,
        category=category,
        channel="screening",
        source="社区排查",
        reported_at=clock.now(),
    ).risk_person


def edge(session: Session, source: Resident, target: Resident) -> None:
    session.add(
        Exposure(
            source_person_id=source.id,
            person_id=target.id,
            region_code=target.region_code,
            setting="social",
            last_exposure_at=datetime(2022, 3, 13, 1, tzinfo=UTC),
            transmission=False,
            recorded_at=clock.now(),
        )
    )


def region_of_exposures(session: Session, who: Resident) -> set[str]:
    return set(session.scalars(select(Exposure.region_code).where(Exposure.person_id == who.id)))


def test_a_move_takes_the_exposures_and_the_open_record_along(
    session: Session, county_commander: Actor, registry: Registry
) -> None:
    close, moving, released = registry.a1[0], registry.a1[1], registry.a1[2]
    new_home = registry.b1[0].region_code
    open_record = note(session, moving, "general")
    closed_record = note(session, released, "general")
    edge(session, close, moving)
    session.commit()
    release_risk_person(session, county_commander, closed_record.id, "completed")
    before = closed_record.region_code

    move(session, county_commander, moving, new_home)
    move(session, county_commander, released, new_home)

    session.expire_all()
    assert session.get(RiskPerson, open_record.id).region_code == new_home  # type: ignore[union-attr]
    assert region_of_exposures(session, moving) == {new_home}
    # a released record is history: it stays where it was closed
    assert session.get(RiskPerson, closed_record.id).region_code == before  # type: ignore[union-attr]
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "risk_person.region")
    ).all()
    assert [(e.object_id, e.region_code, e.changes["region_code"]) for e in events] == [
        (str(open_record.id), new_home, [moving.region_code, new_home])
    ]
    assert events[0].actor_label == county_commander.username


def test_an_import_that_moves_nobody_moves_nothing(
    session: Session, county_commander: Actor, registry: Registry
) -> None:
    who = registry.a1[1]
    record = note(session, who)
    session.commit()
    row = registry_row(who)
    row.phone = "13900000000"
    result = import_people(session, county_commander, registry_csv([row]), "phone.csv")
    assert result.updated == 1
    session.expire_all()
    assert session.get(RiskPerson, record.id).region_code == who.region_code  # type: ignore[union-attr]
    assert not session.scalars(
        select(AuditEvent).where(AuditEvent.action == "risk_person.region")
    ).all()


@pytest.mark.parametrize("whole", [True, False], ids=["whole_graph", "around"])
def test_a_new_secondary_contact_is_in_the_registry_region_of_the_person_now(
    session: Session, county_commander: Actor, registry: Registry, whole: bool
) -> None:
    """The exposure was named while they lived in A1; the registry has moved
    them to B1 since: B1 must find them, whichever way the record is made."""
    close, exposed = registry.a1[0], registry.a1[1]
    note(session, close)
    edge(session, close, exposed)
    session.commit()
    moved_to = registry.b1[0].region_code
    assert exposed.region_code != moved_to
    move(session, county_commander, exposed, moved_to)
    if whole:
        refresh_secondary_contacts(session, county_commander)
    else:
        update_secondary_contacts_around(session, [close.id])
        session.commit()
    record = session.scalars(select(RiskPerson).where(RiskPerson.person_id == exposed.id)).one()
    assert (record.category, record.region_code) == ("secondary", moved_to)
