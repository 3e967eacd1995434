"""Pending matches: a record the matcher could not decide waits for a
person, who names who it is (the record then counts as if it had matched)
or dismisses it; candidates of another county are never shown."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.service import update_person
from fangkong.tracing.models import PendingMatch, RiskPerson, RiskSource
from fangkong.tracing.pending import (
    dismiss_pending_match,
    list_pending_matches,
    resolve_pending_match,
)
from fangkong.tracing.risk_import import import_risk_persons
from tests.factories import mobile
from tests.testing.conftest import Registry, csv_bytes

HEADER = ["id_number", "phone", "name", "category", "source", "reported_at"]
SHARED = mobile(77)


@pytest.fixture
def shared_phone(
    session: Session, registry: Registry, county_commander: Actor, other_county_commander: Actor
) -> None:
    """One phone registered for two Anci residents and one of Guangyang."""
    for person in (registry.a1[0], registry.a1[1]):
        update_person(session, county_commander, person.id, phone=SHARED)
    update_person(session, other_county_commander, registry.gy[0].id, phone=SHARED)


def upload(session: Session, actor: Actor, rows: list[list[str]]) -> None:
    import_risk_persons(session, actor, csv_bytes(HEADER, rows), "list.csv", channel="bigdata")


def test_a_shared_phone_waits_and_a_person_names_who_it_is(
    session: Session, registry: Registry, epidemiologist: Actor, shared_phone: None
) -> None:
    upload(
        session, epidemiologist, [["", SHARED, "", "close", "大数据第 3 批", "2022-03-14 09:00"]]
    )
    [waiting] = list_pending_matches(session, epidemiologist)
    assert waiting.reason == "phone_shared"
    shown = {c.person_id for c in waiting.candidates}
    assert shown == {registry.a1[0].id, registry.a1[1].id, None}  # Guangyang's hidden
    assert registry.gy[0].name not in {c.name for c in waiting.candidates}

    with pytest.raises(InvalidInput, match="jurisdiction"):
        resolve_pending_match(session, epidemiologist, waiting.id, registry.gy[0].id)
    risk_id = resolve_pending_match(session, epidemiologist, waiting.id, registry.a1[1].id)
    risk = session.get(RiskPerson, risk_id)
    assert risk is not None
    assert (risk.person_id, risk.category) == (registry.a1[1].id, "close")
    source = session.scalars(select(RiskSource).where(RiskSource.risk_person_id == risk_id)).one()
    assert (source.channel, source.source) == ("bigdata", "大数据第 3 批")
    assert list_pending_matches(session, epidemiologist) == []
    with pytest.raises(Conflict, match="already resolved"):
        resolve_pending_match(session, epidemiologist, waiting.id, registry.a1[0].id)


def test_a_pending_record_is_dismissed_with_a_reason_and_stays_in_its_county(
    session: Session,
    registry: Registry,
    epidemiologist: Actor,
    other_epidemiologist: Actor,
    shared_phone: None,
) -> None:
    upload(session, epidemiologist, [["", SHARED, "", "general", "热线", "2022-03-14 09:00"]])
    [waiting] = list_pending_matches(session, epidemiologist)
    assert list_pending_matches(session, other_epidemiologist) == []
    with pytest.raises(NotFound):
        dismiss_pending_match(session, other_epidemiologist, waiting.id, "not ours")
    with pytest.raises(InvalidInput, match="reason"):
        dismiss_pending_match(session, epidemiologist, waiting.id, " ")
    dismiss_pending_match(session, epidemiologist, waiting.id, "测试号码 a test number")
    stored = session.get(PendingMatch, waiting.id)
    assert stored is not None
    assert stored.status == "dismissed"
