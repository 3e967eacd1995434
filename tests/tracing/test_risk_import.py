"""Importing a channel's list of risk persons: one risk person however many
channels and rows name them, the same report kept once, the same file twice
changing nothing, every bad cell refused with its reason while the good rows
are kept, both header languages, nothing of another county told through the
reply, and the file ending exactly as ``note_risk_person`` row after row."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import SYSTEM, Actor
from fangkong.config import get_settings
from fangkong.errors import InvalidInput, NotFound, PermissionDenied, UnreadableFile
from fangkong.people.models import Person
from fangkong.people.service import update_person
from fangkong.sim.tracing import channel_records, registry_persons, write_channel_file
from fangkong.tracing.control import set_risk_status
from fangkong.tracing.matching import IncomingPerson, match_one
from fangkong.tracing.models import PendingMatch, RiskPerson, RiskSource
from fangkong.tracing.risk import note_risk_person
from fangkong.tracing.risk_import import (
    RiskImportResult,
    import_risk_persons,
    rejects_report_rows,
)
from fangkong.tracing.summary import tracing_summary
from tests.factories import mobile, resident_id
from tests.testing.conftest import A1, A2, ANCI, GY, FrozenClock, Registry, csv_bytes, local

HEADER_EN = ["id_number", "phone", "name", "category", "source", "reported_at"]
HEADER_ZH = ["身份证号", "手机号", "姓名", "类别", "来源", "报告时间"]
MORE_EN = ["region_code", "address", "last_exposure_at"]
MORE_ZH = ["区划代码", "地址", "末次暴露时间"]


HOUR_AGO = "2022-03-14 09:00:00"  # local time, an hour before the tests' frozen clock


def hour_ago() -> str:
    return local(clock.now() - timedelta(hours=1), "%Y-%m-%d %H:%M:%S")


def row(
    id_number: str = "",
    phone: str = "",
    name: str = "",
    category: str = "close",
    source: str = "社区排查",
    reported_at: str | None = None,
    *more: str,
) -> list[str]:
    return [id_number, phone, name, category, source, reported_at or HOUR_AGO, *more]


def risk_file(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER_EN) -> bytes:
    width = max((len(r) for r in rows), default=6)
    full = [*header, *(MORE_ZH if header[0] == "身份证号" else MORE_EN)][:width]
    return csv_bytes(full, [[*r, *[""] * (width - len(r))] for r in rows])


Importer = Callable[..., RiskImportResult]


@pytest.fixture
def upload(session: Session, epidemiologist: Actor) -> Importer:
    def run(
        rows: Sequence[Sequence[str]],
        channel: str = "screening",
        *,
        actor: Actor | None = None,
        header: Sequence[str] = HEADER_EN,
    ) -> RiskImportResult:
        data = risk_file(rows, header)
        return import_risk_persons(
            session, actor or epidemiologist, data, "list.csv", channel=channel
        )

    return run


def risk_of(session: Session, person_id: int) -> RiskPerson | None:
    return session.scalar(select(RiskPerson).where(RiskPerson.person_id == person_id))


def count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def summary(result: RiskImportResult) -> tuple[int, ...]:
    return (
        result.accepted,
        result.unchanged,
        result.rejected,
        result.new_risk_persons,
        result.new_non_residents,
        result.pending,
    )


# --- one person, however many channels and rows ------------------------------------------


def test_three_channels_make_one_risk_person_with_three_sources(
    session: Session, registry: Registry, upload: Importer
) -> None:
    someone = registry.a1[0]
    screened = upload([row(someone.id_number, "", someone.name)], "screening")
    requested = upload([row("", mobile(0), someone.name, "密接", "协查函 廊坊")], "request")
    pushed = upload([row("", f"+86 {mobile(0)}", "", "companion", "大数据 1")], "bigdata")
    assert summary(screened) == (1, 0, 0, 1, 0, 0)
    assert summary(requested) == summary(pushed) == (1, 0, 0, 0, 0, 0)
    risk = risk_of(session, someone.id)
    assert risk is not None
    assert risk.category == "close"
    channels = session.scalars(
        select(RiskSource.channel).where(RiskSource.risk_person_id == risk.id)
    ).all()
    assert sorted(channels) == ["bigdata", "request", "screening"]
    assert count(session, RiskPerson) == 1


def test_the_same_file_twice_changes_nothing(
    session: Session, registry: Registry, upload: Importer, frozen: FrozenClock
) -> None:
    unknown = resident_id("110105", date(1991, 5, 6), serial=41)
    rows = [
        row(registry.a1[1].id_number, "", "", "general"),
        row("", mobile(11), ""),
        row(unknown, "13900007777", "新人", "close", "社区排查", None, A2),
        row("", "13900008888", "无社区"),
    ]
    first = upload(rows)
    assert summary(first) == (3, 0, 0, 3, 1, 1)
    stamps = session.execute(select(RiskPerson.id, RiskPerson.updated_at)).all()
    frozen.advance(hours=1)
    again = upload(rows)
    assert summary(again) == (0, 4, 0, 0, 0, 0)
    assert session.execute(select(RiskPerson.id, RiskPerson.updated_at)).all() == stamps
    assert (count(session, RiskSource), count(session, PendingMatch)) == (3, 1)


def test_nobody_is_counted_twice_inside_one_file(
    session: Session, registry: Registry, upload: Importer
) -> None:
    someone, unknown = registry.a2[0], resident_id("110105", date(1979, 9, 9), serial=43)
    result = upload(
        [
            row(someone.id_number, "", "", "general", "网格员 1"),
            row("", mobile(10), someone.name, "close", "网格员 2"),
            row(someone.id_number, "", "", "general", "网格员 1"),  # the first row again
            row(unknown, "13900009999", "外地人", "general", "网格员 1", None, A2),
            row("", "139 0000 9999", "外地人", "close", "网格员 2", None, A2),
        ]
    )
    assert summary(result) == (4, 1, 0, 2, 1, 0)
    risk = risk_of(session, someone.id)
    assert risk is not None
    assert (risk.category, risk.measure) == ("close", "centralized_quarantine")
    created = session.scalar(select(Person).where(Person.id_number == unknown))
    assert created is not None
    assert not created.resident
    assert count(session, RiskSource) == 4


def test_a_more_serious_report_raises_the_measure_and_a_later_one_reopens_a_release(
    session: Session,
    registry: Registry,
    upload: Importer,
    epidemiologist: Actor,
    frozen: FrozenClock,
) -> None:
    someone = registry.b1[0]
    upload([row(someone.id_number, "", "", "general")])
    upload([row(someone.id_number, "", "", "次密接", "流调 2")])
    risk = risk_of(session, someone.id)
    assert risk is not None
    assert (risk.category, risk.deadline_at) == ("secondary", clock.now() + timedelta(hours=24))
    audit = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "risk_person.update", AuditEvent.object_id == str(risk.id)
        )
    ).one()
    assert audit.changes["category"] == ["general", "secondary"]
    assert audit.changes["measure"] == ["health_monitoring", "centralized_quarantine"]
    set_risk_status(session, epidemiologist, risk.id, "released")
    frozen.advance(days=2)
    upload([row(someone.id_number, "", "", "general", "复报", HOUR_AGO)])  # before the release
    session.refresh(risk)
    assert risk.status == "released"
    upload([row(someone.id_number, "", "", "general", "复报", hour_ago())])
    session.refresh(risk)
    assert (risk.status, risk.category, risk.released_at) == ("to_find", "general", None)


# --- bad input ------------------------------------------------------------------------------


BAD_ROWS = {
    "bad check digit": (row("131002198506150031"), "身份证号 (id_number)", "check"),
    "old 15 digits": (row("131002850615003"), "身份证号 (id_number)", "15-digit"),
    "bad document": (row("护照A1"), "身份证号 (id_number)", "5 to 20"),
    "bad phone": (row("", "1380000"), "手机号 (phone)", "phone number is not valid"),
    "neither": (row("", "", "张三"), "身份证号 (id_number)", "identity number or a phone"),
    "long name": (row("", "13900000001", "张" * 51), "姓名 (name)", "longer than 50"),
    "category": (row("", "13900000001", "", "可疑"), "类别 (category)", "unknown category"),
    "no category": (row("", "13900000001", "", ""), "类别 (category)", "unknown category"),
    "no source": (row("", "13900000001", "", "close", ""), "来源 (source)", "source is empty"),
    "bad time": (
        row("", "13900000001", "", "close", "s", "2022-02-30 08:00"),
        "报告时间 (reported_at)",
        "not a time",
    ),
    "no time": (row("", "13900000001", "", "close", "s", " "), "报告时间 (reported_at)", "empty"),
    "future time": (
        row("", "13900000001", "", "close", "s", "2022-03-15 08:00"),
        "报告时间 (reported_at)",
        "future",
    ),
    "bad exposure": (
        row("", "13900000001", "", "close", "s", None, "", "", "昨天"),
        "末次暴露时间 (last_exposure_at)",
        "not a time",
    ),
    "unknown community": (
        row("", "13900000001", "", "close", "s", None, "131002001999"),
        "区划代码 (region_code)",
        "not a community code inside your jurisdiction",
    ),
    "community elsewhere": (
        row("", "13900000001", "", "close", "s", None, GY),
        "区划代码 (region_code)",
        "not a community code inside your jurisdiction",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_every_bad_cell_is_refused_with_its_reason_and_the_good_rows_are_kept(
    session: Session, registry: Registry, upload: Importer, case: str
) -> None:
    bad, column, words = BAD_ROWS[case]
    good = row(registry.a1[2].id_number, "", "", "close", "s", None, "", "", hour_ago())
    result = upload([good, bad])
    assert (result.accepted, result.rejected) == (1, 1)
    (reject,) = result.rejects
    assert (reject.row_number, reject.column) == (3, column)
    assert words in reject.reason_en
    assert reject.reason_zh
    assert risk_of(session, registry.a1[2].id) is not None


def test_a_file_without_an_identity_number_or_phone_column_cannot_be_read(
    upload: Importer,
) -> None:
    header = ["name", "category", "source", "reported_at"]
    with pytest.raises(UnreadableFile, match="id_number"):
        upload([["张三", "close", "s", hour_ago()]], header=header)


def test_only_tracing_staff_import_and_only_into_the_four_channels(
    upload: Importer, make_actor: Callable[..., Actor], registry: Registry
) -> None:
    with pytest.raises(PermissionDenied):
        upload([row(registry.a1[0].id_number)], actor=make_actor("sampler", ANCI))
    with pytest.raises(InvalidInput, match="channel"):
        upload([row(registry.a1[0].id_number)], "investigation")


def test_chinese_headers_and_category_labels_are_understood(
    session: Session, registry: Registry, upload: Importer
) -> None:
    someone, other = registry.a1[3], registry.a1[4]
    result = upload(
        [
            row(someone.id_number, "", "", "密切接触者", "社区", None, A1, "1号楼", hour_ago()),
            row("", mobile(4), other.name, "时空伴随者", "社区", None, A1, "", ""),
        ],
        header=HEADER_ZH,
    )
    assert summary(result) == (2, 0, 0, 2, 0, 0)
    first, second = risk_of(session, someone.id), risk_of(session, other.id)
    assert first is not None
    assert second is not None
    assert (first.category, second.category) == ("close", "companion")
    assert first.last_exposure_at == clock.now() - timedelta(hours=1)
    assert second.last_exposure_at is None


# --- other counties ---------------------------------------------------------------------------


def test_another_countys_person_is_matched_but_nothing_of_them_is_told(
    session: Session,
    registry: Registry,
    upload: Importer,
    county_commander: Actor,
    other_county_commander: Actor,
) -> None:
    theirs = registry.gy[0]
    update_person(session, other_county_commander, registry.gy[1].id, phone=mobile(30))
    result = upload(
        [
            row(theirs.id_number, "", ""),  # matched: their risk person, in their county
            row("", mobile(30), "陌生人"),  # their phone, shared: pending
            row("", mobile(30), "", "close", "", None),  # refused: no source
        ]
    )
    assert summary(result) == (1, 0, 1, 0, 0, 1)  # theirs is not counted as new: not ours to tell
    risk = risk_of(session, theirs.id)
    assert risk is not None
    assert risk.region_code == GY
    told = " ".join(
        [
            *result.notices,
            *(f"{r.column} {r.value} {r.reason_zh} {r.reason_en}" for r in result.rejects),
        ]
    )
    header, rows = rejects_report_rows(session, county_commander, result.batch_id)
    told += " ".join([*header, *(" ".join(r) for r in rows)])
    for person in registry.gy:
        assert person.name not in told
        assert person.id_number not in told
    assert GY not in told


def test_a_county_cannot_read_another_countys_rejects_report(
    upload: Importer, other_county_commander: Actor, session: Session
) -> None:
    result = upload([row("", "", "x")])
    with pytest.raises(NotFound):
        rejects_report_rows(session, other_county_commander, result.batch_id)


def test_the_summary_counts_only_the_actors_part_of_a_region(
    session: Session,
    registry: Registry,
    upload: Importer,
    county_commander: Actor,
    city_commander: Actor,
    other_county_commander: Actor,
) -> None:
    upload([row(registry.a1[0].id_number), row(registry.gy[0].id_number)])
    city = "131000"
    assert tracing_summary(session, city_commander, city)["risk_persons"] == 2
    assert tracing_summary(session, county_commander, city)["risk_persons"] == 1
    assert tracing_summary(session, county_commander, ANCI)["by_channel"]["screening"] == 1
    with pytest.raises(NotFound):
        tracing_summary(session, other_county_commander, ANCI)


# --- the file ends as note_risk_person row after row ------------------------------------------


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


def _before(session: Session, registry: Registry) -> None:
    """Risk persons already there: one general contact, one close contact
    released an hour ago."""
    for resident, category in ((registry.a1[0], "general"), (registry.a1[1], "close")):
        note_risk_person(
            session,
            person_id=resident.id,
            region_code=resident.region_code,
            category=category,
            channel="investigation",
            source="流调",
            reported_at=clock.now() - timedelta(hours=5),
            last_exposure_at=clock.now() - timedelta(days=2),
        )
    released = session.scalar(select(RiskPerson).where(RiskPerson.person_id == registry.a1[1].id))
    assert released is not None
    released.status, released.released_at = "released", clock.now() - timedelta(hours=1)
    released.release_reason = "completed"
    session.commit()


def _state(session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every risk person and source, persons named by identity number (the
    ids of new persons differ between two rolled-back runs)."""
    number = {p.id: p.id_number for p in session.scalars(select(Person))}
    risks = {
        r.id: (
            number[r.person_id],
            r.region_code,
            r.category,
            r.measure,
            r.status,
            r.last_exposure_at,
            r.identified_at,
            r.deadline_at,
            r.controlled_at,
            r.released_at,
            r.release_reason,
        )
        for r in session.scalars(select(RiskPerson))
    }
    sources = sorted(
        (
            risks[s.risk_person_id][0],
            s.region_code,
            s.channel,
            s.source,
            s.category,
            s.reported_at,
            s.fingerprint,
            s.received_at,
        )
        for s in session.scalars(select(RiskSource))
    )
    return sorted(risks.values()), sources


CATEGORIES = ["close", "secondary", "companion", "general"]
FORMAT = "%Y-%m-%d %H:%M:%S"


@st.composite
def report_rows(draw: st.DrawFn, registry: Registry) -> list[list[str]]:
    people = registry.a1[:3]
    choices = [(p.id_number, "") for p in people] + [("", mobile(1)), ("", "13900001234")]
    minutes = st.integers(min_value=-180, max_value=-1)
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        id_number, phone = draw(st.sampled_from(choices))
        at = clock.now() + timedelta(minutes=draw(minutes))
        exposure = draw(st.one_of(st.none(), minutes))
        rows.append(
            row(
                id_number,
                phone,
                "",
                draw(st.sampled_from(CATEGORIES)),
                draw(st.sampled_from(["甲", "乙"])),
                local(at, FORMAT),
                A1,
                "",
                "" if exposure is None else local(clock.now() + timedelta(hours=exposure), FORMAT),
            )
        )
    return rows


def note_row_after_row(session: Session, rows: list[list[str]], channel: str) -> None:
    """The oracle: each row matched alone (``match_one``) and noted alone
    (``note_risk_person``), in file order."""
    for r in rows:
        record = IncomingPerson(r[0], r[1], r[2], address=r[7], region_code=r[6])
        matched = match_one(session, SYSTEM, ANCI, record)
        person = session.get(Person, matched.person_id)
        assert person is not None
        note_risk_person(
            session,
            person_id=person.id,
            region_code=person.region_code,
            category=r[3],
            channel=channel,
            source=r[4],
            reported_at=_utc(r[5]),
            last_exposure_at=_utc(r[8]) if r[8] else None,
        )
    session.commit()


def _utc(text: str) -> datetime:
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=get_settings().zone)
    return moment.astimezone(UTC)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_file_ends_as_note_risk_person_row_after_row(
    engine: Engine, registry: Registry, data: st.DataObject
) -> None:
    rows = data.draw(report_rows(registry))
    actor = Actor(None, "epi", "epidemiologist", ANCI)
    with rolled_back(engine) as session:
        _before(session, registry)
        note_row_after_row(session, rows, "screening")
        expected = _state(session)
    with rolled_back(engine) as session:
        _before(session, registry)
        import_risk_persons(session, actor, risk_file(rows), "f.csv", channel="screening")
        imported = _state(session)
    assert imported == expected


def test_a_synthetic_day_of_four_channels_counts_each_person_once(
    session: Session, registry: Registry, make_actor: Callable[..., Actor], tmp_path: Path
) -> None:
    city = make_actor("commander", "1310")
    persons = registry_persons(session.connection(), "1310")
    lists, truth = channel_records(
        persons, records=80, seed=5, reported_from=datetime(2022, 3, 14), hours=8
    )
    files = {}
    for channel, table in lists.items():
        files[channel] = tmp_path / f"{channel}.csv"
        write_channel_file(table, files[channel], chinese_headers=channel == "screening")
        result = import_risk_persons(
            session, city, files[channel].read_bytes(), files[channel].name, channel=channel
        )
        assert result.rejected == 0, result.rejects
    at_risk = session.scalars(
        select(Person.id_number).join(RiskPerson, RiskPerson.person_id == Person.id)
    ).all()
    assert len(at_risk) == len(set(at_risk))
    visitors = truth.visitors.to_pydict()
    known = {*truth.registered.to_pylist(), *(n for n in visitors["id_number"] if n)}
    known |= {"+86" + phone for phone in visitors["phone"]}
    assert set(at_risk) <= known
    reported = {  # every registered person a list names by identity number
        _clean(number)
        for table in lists.values()
        for number in table.column("id_number").to_pylist()
        if number
    } & set(truth.registered.to_pylist())
    assert reported <= set(at_risk)
    for channel, path in files.items():
        again = import_risk_persons(session, city, path.read_bytes(), path.name, channel=channel)
        assert again.accepted == again.pending == again.new_non_residents == 0


def _clean(number: str) -> str:
    return unicodedata.normalize("NFKC", number).replace(" ", "").upper()
