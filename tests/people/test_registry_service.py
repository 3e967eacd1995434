"""Registry reads and edits: search, masking, scoping, audit, duplicates."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fangkong.people.importing import import_people
from fangkong.people.models import DuplicateSuspect, Person
from fangkong.people.service import (
    export_rows,
    get_person,
    household_members,
    list_duplicate_suspects,
    resolve_duplicate_suspect,
    search_persons,
    update_person,
)
from fangkong.regions.catalog import Level, descendants
from tests.factories import person_row, registry_csv

ANCI = [r.code for r in descendants("131002", Level.VILLAGE)]
GUANGYANG = [r.code for r in descendants("131003", Level.VILLAGE)]


@pytest.fixture
def loaded(
    session: Session, county_commander: Actor, other_county_commander: Actor
) -> tuple[list[int], list[int]]:
    mine = [person_row(ANCI[0], i, household="HH-1", phone=f"1380000000{i}") for i in range(3)]
    theirs = [person_row(GUANGYANG[0], 10 + i, name=f"测试{i}") for i in range(2)]
    import_people(session, county_commander, registry_csv(mine), "mine.csv")
    import_people(session, other_county_commander, registry_csv(theirs), "theirs.csv")
    ids = list(session.scalars(select(Person.id).order_by(Person.id)))
    return ids[:3], ids[3:]


def test_lists_mask_identity_numbers_and_phones(
    session: Session, county_commander: Actor, loaded: tuple[list[int], list[int]]
) -> None:
    found, total = search_persons(session, county_commander)
    assert total == 3
    for view in found:
        assert "*" in view.id_number
        assert view.id_number[:4] == "1310"
        assert view.phone.startswith("138****")


def test_the_person_page_shows_whole_data_to_roles_that_need_it(
    session: Session, county_commander: Actor, loaded: tuple[list[int], list[int]]
) -> None:
    view = get_person(session, county_commander, loaded[0][0])
    assert "*" not in view.id_number
    assert len(view.id_number) == 18
    assert view.phone == "+8613800000000"


def test_search_finds_by_name_identity_number_and_phone(
    session: Session, county_commander: Actor, loaded: tuple[list[int], list[int]]
) -> None:
    person = session.get_one(Person, loaded[0][1])
    assert search_persons(session, county_commander, "测试1")[1] == 1
    assert search_persons(session, county_commander, person.id_number)[1] == 1
    assert search_persons(session, county_commander, "13800000001")[1] == 1
    assert search_persons(session, county_commander, "测试")[1] == 3  # name prefix
    assert search_persons(session, county_commander, "测")[1] == 3  # a surname alone


def test_another_countys_persons_are_invisible(
    session: Session, county_commander: Actor, loaded: tuple[list[int], list[int]]
) -> None:
    theirs = loaded[1][0]
    assert search_persons(session, county_commander, "测试0")[1] == 1  # only my own 测试0
    with pytest.raises(NotFound):
        get_person(session, county_commander, theirs)
    with pytest.raises(NotFound):
        update_person(session, county_commander, theirs, phone="13900000000")
    household_id = session.get_one(Person, theirs).household_id
    assert household_id is not None
    with pytest.raises(NotFound):
        household_members(session, county_commander, household_id)
    assert all(row[6].startswith("131002") for row in export_rows(session, county_commander))
    assert len(list(export_rows(session, county_commander))) == 3


def test_a_household_lists_its_members(
    session: Session, county_commander: Actor, loaded: tuple[list[int], list[int]]
) -> None:
    household_id = session.get_one(Person, loaded[0][0]).household_id
    assert household_id is not None
    household, members = household_members(session, county_commander, household_id)
    assert household.code == "HH-1"
    assert [m.id for m in members] == loaded[0]
    assert all("*" in m.id_number for m in members)  # a list: masked


def test_an_edit_is_audited_with_the_changed_fields(
    session: Session, community_worker: Actor, loaded: tuple[list[int], list[int]]
) -> None:
    person_id = loaded[0][0]
    # the community worker's jurisdiction is the first township of Anci
    assert ANCI[0].startswith(community_worker.jurisdiction)
    update_person(session, community_worker, person_id, phone="139-0000-1111")
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "person.update")).one()
    assert event.changes == {"phone": ["+8613800000000", "+8613900001111"]}
    with pytest.raises(InvalidInput, match="phone"):
        update_person(session, community_worker, person_id, phone="12")
    with pytest.raises(InvalidInput, match="name"):
        update_person(session, community_worker, person_id, name=" ")


def test_duplicate_suspects_are_resolved_by_a_person(
    session: Session, county_commander: Actor
) -> None:
    a = person_row(ANCI[0], 1, name="王五", phone="13822223333")
    b = person_row(ANCI[0], 2, name="王五", phone="13822223333")
    from datetime import date

    b.id_number = person_row(ANCI[0], 2, born=date(1991, 2, 2)).id_number
    b.birth_date = "1991-02-02"
    import_people(session, county_commander, registry_csv([a, b]), "dup.csv")
    suspects = list_duplicate_suspects(session, county_commander)
    assert len(suspects) == 1
    suspect = session.get_one(DuplicateSuspect, suspects[0].id)
    with pytest.raises(InvalidInput, match="keep_person_id"):
        resolve_duplicate_suspect(session, county_commander, suspect.id, same_person=True)
    resolve_duplicate_suspect(
        session,
        county_commander,
        suspect.id,
        same_person=True,
        keep_person_id=suspect.person_a_id,
        note="同一人，证件号录错",
    )
    assert search_persons(session, county_commander, "王五")[1] == 1
    merged = session.get_one(Person, suspect.person_b_id)
    assert merged.merged_into_id == suspect.person_a_id
    with pytest.raises(Conflict):
        resolve_duplicate_suspect(session, county_commander, suspect.id, same_person=False)


def test_an_export_is_audited_with_whether_it_was_unmasked(
    session: Session, county_commander: Actor, loaded: tuple[list[int], list[int]]
) -> None:
    rows = list(export_rows(session, county_commander, unmasked=True))
    assert len(rows) == 3
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "people.export")).one()
    assert event.changes["unmasked"] is True
    assert event.region_code == county_commander.jurisdiction
    assert event.actor_label == county_commander.username


def test_a_role_without_personal_data_cannot_export_unmasked(
    session: Session, make_actor: Callable[..., Actor], loaded: tuple[list[int], list[int]]
) -> None:
    sampler = make_actor("sampler", "131002")
    with pytest.raises(PermissionDenied):
        list(export_rows(session, sampler, unmasked=True))
    assert all("*" in row[1] for row in export_rows(session, sampler))
