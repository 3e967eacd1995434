"""Matching incoming person records to the registry: each rule, uncertain
matches left pending with their candidates, unknown persons created as
non-residents, and the bulk matcher deciding as ``match_one`` over the
same records one after the other (property tests, without and with a
database)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import SYSTEM, Actor
from fangkong.errors import InvalidInput
from fangkong.people.identity import MESSAGES, Problem
from fangkong.people.models import Person
from fangkong.people.service import update_person
from fangkong.tracing.match_rules import (
    Candidate,
    Incoming,
    Pairs,
    address_agrees,
    check_people,
    decide,
    decide_bulk,
    text_keys,
)
from fangkong.tracing.matching import (
    IncomingPerson,
    Match,
    match_one,
    match_records,
)
from tests.factories import mobile, resident_id
from tests.testing.conftest import A1, A2, ANCI, GY, Registry

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def phone(n: int) -> str:
    """The registered phone of the fixture registry's person number ``n``."""
    return mobile(n)


def match(session: Session, record: IncomingPerson, jurisdiction: str = ANCI) -> Match:
    return match_one(session, SYSTEM, jurisdiction, record)


def person(session: Session, person_id: int | None) -> Person:
    assert person_id is not None
    found = session.get(Person, person_id)
    assert found is not None
    return found


# --- rule 1: the identity number --------------------------------------------------------


def test_a_registered_identity_number_decides_whatever_the_name_and_phone(
    session: Session, registry: Registry
) -> None:
    someone = registry.a1[0]
    found = match(session, IncomingPerson(someone.id_number, phone(12), "别人"))
    assert found == Match(someone.id, False, "", [])


def test_a_dirty_identity_number_is_cleaned_before_it_is_looked_up(
    session: Session, registry: Registry
) -> None:
    someone = registry.a2[1]
    spaced = f" {someone.id_number[:6]} {someone.id_number[6:]} ".translate(FULL_WIDTH)
    assert match(session, IncomingPerson(spaced, "", "")).person_id == someone.id
    ending_in_x = next(
        n for s in range(1, 100) if (n := resident_id("110105", serial=s)).endswith("X")
    )
    first = match(session, IncomingPerson(ending_in_x.lower(), "", "某人", region_code=A1))
    again = match(session, IncomingPerson(ending_in_x, "", "某人"))
    assert first.created
    assert not again.created
    assert again.person_id == first.person_id


def test_a_merged_persons_number_leads_to_the_person_kept(
    session: Session, registry: Registry
) -> None:
    kept, merged = registry.b1[0], registry.b1[1]
    person(session, merged.id).merged_into_id = kept.id
    session.commit()
    assert match(session, IncomingPerson(merged.id_number, "", "")).person_id == kept.id


# --- rule 2: the phone -----------------------------------------------------------------


def test_the_only_person_on_a_phone_decides_when_the_names_agree_or_one_is_missing(
    session: Session, registry: Registry
) -> None:
    someone = registry.a1[1]
    assert match(session, IncomingPerson("", phone(1), someone.name)).person_id == someone.id
    assert match(session, IncomingPerson("", f"+86 {phone(1)}", "")).person_id == someone.id
    spaced = f"{phone(1)[:3]} {phone(1)[3:7]} {phone(1)[7:]}".translate(FULL_WIDTH)
    assert match(session, IncomingPerson("", spaced, f" {someone.name} ")).person_id == someone.id


def test_another_name_on_a_persons_phone_waits_for_a_person_to_decide(
    session: Session, registry: Registry
) -> None:
    someone = registry.a1[2]
    found = match(session, IncomingPerson("", phone(2), "王五"))
    assert found == Match(None, False, "phone_name_differs", [someone.id])


def test_a_shared_phone_is_decided_by_the_name_or_left_pending_with_every_holder(
    session: Session, registry: Registry, county_commander: Actor
) -> None:
    head, partner = registry.a1[3], registry.a1[4]
    update_person(session, county_commander, partner.id, phone=phone(3))
    by_name = match(session, IncomingPerson("", phone(3), partner.name))
    assert by_name.person_id == partner.id
    for name in ("", "王五"):
        found = match(session, IncomingPerson("", phone(3), name))
        assert found == Match(None, False, "phone_shared", sorted([head.id, partner.id]))


def test_a_new_identity_number_on_a_registered_phone_is_a_person_of_its_own(
    session: Session, registry: Registry
) -> None:
    someone = registry.a1[5]
    number = resident_id("110105", date(1990, 1, 1), serial=7)
    found = match(session, IncomingPerson(number, phone(5), someone.name, region_code=A1))
    assert found.created
    assert found.person_id != someone.id
    assert person(session, found.person_id).id_number == number


# --- rule 3: name and address ---------------------------------------------------------------


def test_name_and_address_decide_in_the_records_community(
    session: Session, registry: Registry
) -> None:
    someone = registry.a2[2]  # 2号楼 1单元 room 112 of A2
    record = IncomingPerson("", "13912345678", someone.name, "幸福里2号楼1单元112", A2)
    assert match(session, record).person_id == someone.id
    other_room = IncomingPerson("", "13912345679", someone.name, "2号楼1单元1112", A2)
    assert match(session, other_room).created


def test_two_persons_of_one_name_at_one_address_are_left_pending(
    session: Session, registry: Registry, county_commander: Actor
) -> None:
    first, second = registry.a1[0], registry.a1[1]
    update_person(session, county_commander, second.id, name=first.name)
    for resident in (first, second):  # one flat for both
        person(session, resident.id).address_id = first.address_id
    session.commit()
    found = match(session, IncomingPerson("", "13912345670", first.name, "1号楼1单元100", A1))
    assert found == Match(None, False, "name_address_shared", sorted([first.id, second.id]))


@pytest.mark.parametrize(
    ("given", "registered", "agrees"),
    [
        ("3号楼1单元101", "3号楼1单元101", True),
        ("幸福里小区3号楼1单元101", "3号楼1单元101", True),
        ("1101", "101", False),
        ("3巷12号", "12号", True),
        ("3号楼1单元101", "", False),
        ("", "101", False),
    ],
)
def test_an_address_agrees_when_the_registered_one_ends_it_not_inside_a_number(
    given: str, registered: str, agrees: bool
) -> None:
    assert address_agrees(given, registered) is agrees


# --- nobody: a new non-resident --------------------------------------------------------------


def test_an_unknown_person_becomes_a_non_resident_of_the_given_community(
    session: Session, registry: Registry
) -> None:
    number = resident_id("110105", date(1988, 2, 3), "F", serial=11)
    found = match(session, IncomingPerson(number, "+86 139 0000 1111", "赵六", region_code=A2))
    created = person(session, found.person_id)
    assert found.created
    assert (created.resident, created.region_code, created.id_type) == (False, A2, "resident_id")
    assert (created.phone, created.sex, created.birth_date) == (
        "+8613900001111",
        "F",
        date(1988, 2, 3),
    )
    audited = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "person.create_nonresident")
    ).all()
    assert [(e.object_id, e.region_code, e.actor_label) for e in audited] == [
        (str(created.id), A2, "system")
    ]


def test_without_an_identity_number_the_phone_becomes_the_identifier(
    session: Session, registry: Registry
) -> None:
    found = match(session, IncomingPerson("", "13900002222", ""), jurisdiction=A1)
    created = person(session, found.person_id)
    assert (created.id_type, created.id_number, created.region_code) == (
        "phone",
        "+8613900002222",
        A1,
    )
    later = match(session, IncomingPerson("", "139 0000 2222", "孙七"), jurisdiction=A1)
    assert later == Match(created.id, False, "", [])


def test_an_unknown_person_without_a_community_waits_for_one(
    session: Session, registry: Registry
) -> None:
    found = match(session, IncomingPerson("", "13900003333", "周八"))  # Anci is a county
    assert found == Match(None, False, "no_region", [])
    assert session.scalar(select(Person.id).where(Person.phone == "+8613900003333")) is None


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        (IncomingPerson("13100219850615001", "", ""), "id_number", "18"),
        (IncomingPerson("131002850615001", "", ""), "id_number", "15"),
        (IncomingPerson("", "12345", ""), "phone", "phone number is not valid"),
        (IncomingPerson(" ", " ", "张三"), "id_number", "identity number or a phone"),
        (IncomingPerson("", "13900004444", "张" * 51), "name", "longer than 50"),
        (IncomingPerson("", "13900004444", "", region_code="999999999999"), "region_code", "known"),
        (IncomingPerson("", "13900004444", "", region_code=GY), "region_code", "outside"),
    ],
)
def test_a_malformed_record_is_refused_naming_the_field(
    session: Session, registry: Registry, record: IncomingPerson, field: str, words: str
) -> None:
    with pytest.raises(InvalidInput, match=words) as refused:
        match(session, record)
    assert refused.value.field == field


def test_matching_sees_the_whole_registry_so_another_countys_person_is_not_created_again(
    session: Session, registry: Registry
) -> None:
    theirs = registry.gy[0]
    found = match(session, IncomingPerson(theirs.id_number, "", "", region_code=A1))
    assert found == Match(theirs.id, False, "", [])


# --- the bulk form agrees with the rules, one record at a time -------------------------------

names = st.sampled_from(["", "张三", "李四", "张 三", "ＺＨＡＮＧ", "zhang"])


@st.composite
def one_record(draw: st.DrawFn) -> tuple[Incoming, int | None, list[Candidate], list[Candidate]]:
    region = draw(st.sampled_from(["", A1, A2]))
    record = Incoming(
        id_number=draw(st.sampled_from(["", "X1"])),
        phone=draw(st.sampled_from(["", "+8613800000001"])),
        name_key=draw(st.sampled_from(["", "张三", "李四"])),
        address_key=draw(st.sampled_from(["", "1号楼101", "2号楼1101"])),
        region_code=region,
    )
    people = st.builds(
        Candidate,
        person_id=st.integers(1, 6),
        documented=st.booleans(),
        name_key=st.sampled_from(["", "张三", "李四"]),
        region_code=st.sampled_from([A1, A2]),
        address_key=st.sampled_from(["", "101", "1号楼101"]),
    )
    found = st.lists(people, unique_by=lambda c: c.person_id, max_size=4)
    by_id = draw(st.one_of(st.none(), st.integers(1, 6)))
    return record, by_id, draw(found), draw(found)


def _pairs(cases: list[tuple[Incoming, list[Candidate]]], *, with_address: bool) -> Pairs:
    rows = [(i, record, c) for i, (record, found) in enumerate(cases) for c in found]
    if with_address:  # rule 3's lookup: same community and name only
        rows = [
            (i, r, c)
            for i, r, c in rows
            if r.name_key
            and r.address_key
            and r.region_code
            and (c.region_code, c.name_key) == (r.region_code, r.name_key)
        ]
    same = [bool(r.name_key) and r.name_key == c.name_key for _, r, c in rows]
    return Pairs(
        record=np.array([i for i, _, _ in rows], np.int64),
        person=np.array([c.person_id for _, _, c in rows], np.int64),
        documented=np.array([c.documented for _, _, c in rows], bool),
        same_name=np.array(same, bool),
        names_agree=np.array(
            [
                not r.name_key or not c.name_key or s
                for (_, r, c), s in zip(rows, same, strict=True)
            ],
            bool,
        ),
        address_agrees=np.array(
            [with_address and address_agrees(r.address_key, c.address_key) for _, r, c in rows],
            bool,
        ),
        keys=pa.table({"name_key": [c.name_key for _, _, c in rows]}),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(one_record(), min_size=1, max_size=12))
def test_the_vectorized_rules_decide_as_the_rules_for_one_record(
    cases: list[tuple[Incoming, int | None, list[Candidate], list[Candidate]]],
) -> None:
    expected = [decide(*case) for case in cases]
    bulk = decide_bulk(
        np.array([bool(c[0].id_number) for c in cases]),
        np.array([bool(c[0].region_code) for c in cases]),
        np.array([c[1] or 0 for c in cases], np.int64),
        _pairs([(c[0], c[2]) for c in cases], with_address=False),
        _pairs([(c[0], c[3]) for c in cases], with_address=True),
    )
    for i, want in enumerate(expected):
        assert (bulk.person[i] or None, bulk.pending[i]) == (want.person_id, want.pending), i
        assert bulk.candidates.get(i, ()) == want.candidates if want.pending else True


def test_names_and_addresses_are_compared_as_keys() -> None:
    keys = text_keys(pa.array([" 张　三 ", "ＺＨＡＮＧ San", None])).to_pylist()
    assert keys == ["张三", "zhangsan", ""]


def test_the_cell_check_names_each_fault_with_chinese_and_english_words() -> None:
    good = resident_id("131002", serial=3)
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    checked = check_people(
        pa.array([good, "", "e1234567", bad_check]),
        pa.array(["", "", "+852 9123 4567", ""]),
        pa.array(["甲", "乙", "丙", "丁"]),
        pa.array(["", "", "", ""]),
        date(2022, 3, 14),
    )
    faulty = [(f.field, f.mask.tolist(), f.words[1]) for f in checked.faults if f.mask.any()]
    assert faulty == [
        ("id_number", [False, False, False, True], MESSAGES[Problem.BAD_CHECK_DIGIT][1]),
        ("id_number", [False, True, False, False], "an identity number or a phone is needed"),
    ]
    table = checked.table.to_pydict()
    assert table["id_type"][:3] == ["resident_id", "phone", "other"]
    assert table["id_number"][:3] == [good, "", "E1234567"]
    assert table["phone"][2] == "+85291234567"


# --- with the database: a file decides as its rows one after the other --------------------

LOCAL_IDS = [resident_id("110105", date(1990, 1, 1), serial=s) for s in (1, 2)]


@st.composite
def file_rows(draw: st.DrawFn, registry: Registry) -> list[IncomingPerson]:
    people = registry.a1
    numbers = ["", "", people[0].id_number, people[5].id_number, registry.gy[0].id_number]
    numbers += LOCAL_IDS
    phones = ["", phone(0), phone(2), phone(30), "13900005555", "13900006666"]
    row = st.builds(
        IncomingPerson,
        id_number=st.sampled_from(numbers),
        phone=st.sampled_from(phones),
        name=st.sampled_from(["", people[0].name, people[2].name, "新人"]),
        address=st.sampled_from(["", "1号楼1单元100"]),
        region_code=st.sampled_from(["", A1]),
    ).filter(lambda r: bool(r.id_number or r.phone))
    return draw(st.lists(row, min_size=1, max_size=8))


@contextmanager
def rolled_back(engine: Engine, registry: Registry) -> Iterator[Session]:
    """A session on the registry where two persons share a phone, two
    persons of one name share a flat, one person is merged into another and
    a person known by a phone alone has another phone now; rolled back
    afterwards."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        first, second, _, fourth, _, sixth = registry.a1
        person(session, fourth.id).phone = "+86" + phone(2)
        person(session, second.id).name = first.name
        person(session, second.id).address_id = first.address_id
        person(session, sixth.id).merged_into_id = first.id
        session.add(  # known by a phone alone, whose phone changed since
            Person(
                id_type="phone",
                id_number="+8613900005555",
                name="旧号",
                phone="+8613900004444",
                region_code=A1,
                relation="",
                resident=False,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        session.flush()
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


Outcome = tuple[str | None, bool, str, list[str]]


def _described(session: Session) -> Callable[[int | None], str | None]:
    def id_number(person_id: int | None) -> str | None:
        return None if person_id is None else person(session, person_id).id_number

    return id_number


def one_after_the_other(
    engine: Engine, registry: Registry, rows: list[IncomingPerson]
) -> list[Outcome]:
    with rolled_back(engine, registry) as session:
        described = _described(session)
        outcomes = []
        for row in rows:
            found = match_one(session, SYSTEM, ANCI, row)
            candidates = [str(described(c)) for c in found.candidate_ids]
            outcomes.append(
                (described(found.person_id), found.created, found.pending_reason, candidates)
            )
        return outcomes


def all_at_once(engine: Engine, registry: Registry, rows: list[IncomingPerson]) -> list[Outcome]:
    with rolled_back(engine, registry) as session:
        checked = check_people(
            pa.array([r.id_number.strip() for r in rows]),
            pa.array([r.phone.strip() for r in rows]),
            pa.array([r.name.strip() for r in rows]),
            pa.array([r.address.strip() for r in rows]),
            clock.today_local(),
        )
        table = checked.table.append_column("region_code", pa.array([r.region_code for r in rows]))
        found = match_records(session.connection(), table, batch_id=None, now=clock.now())
        described = _described(session)
        return [
            (
                described(int(found.person[i]) or None),
                bool(found.created[i]),
                str(found.pending[i]),
                [str(described(c)) for c in found.candidates.get(i, ())],
            )
            for i in range(len(rows))
        ]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_file_is_matched_as_its_records_one_after_the_other(
    engine: Engine, registry: Registry, data: st.DataObject
) -> None:
    rows = data.draw(file_rows(registry))
    assert all_at_once(engine, registry, rows) == one_after_the_other(engine, registry, rows)
