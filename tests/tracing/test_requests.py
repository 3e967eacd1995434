"""Cross-region requests: a full round trip between two counties, each side
seeing only its own persons; requests to places outside the system as files;
the supervisor's bulk action that hands risk persons to another region."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.identity import mask_identity
from fangkong.tracing.control import RiskFilter, list_risk_persons, move_risk_persons
from fangkong.tracing.models import RiskPerson, RiskSource
from fangkong.tracing.request_files import export_request, import_outcomes
from fangkong.tracing.requests import (
    RequestPerson,
    accept_request,
    list_requests,
    report_outcome,
    request_progress,
    send_request,
    send_request_for_risk_persons,
)
from fangkong.tracing.risk import note_risk_person
from tests.testing.conftest import GUANGYANG, FrozenClock, Registry


def ask_guangyang(session: Session, sender: Actor, registry: Registry) -> int:
    persons = [
        RequestPerson(id_number=registry.gy[0].id_number, name=registry.gy[0].name),
        RequestPerson(id_number=registry.gy[1].id_number, category="secondary"),
    ]
    request = send_request(
        session,
        sender,
        to_region=GUANGYANG,
        subject="病例 1 的密接 close contacts of case 1",
        deadline_at=clock.now() + timedelta(hours=12),
        persons=persons,
    )
    return request.id


def test_a_request_makes_the_full_round_trip_and_each_side_sees_its_own(
    session: Session, registry: Registry, epidemiologist: Actor, other_epidemiologist: Actor
) -> None:
    request_id = ask_guangyang(session, epidemiologist, registry)
    assert [r.id for r in list_requests(session, other_epidemiologist, "received")] == [request_id]
    assert list_requests(session, epidemiologist, "received") == []
    with pytest.raises(NotFound):  # only the receiver accepts
        accept_request(session, epidemiologist, request_id)

    accepted = accept_request(session, other_epidemiologist, request_id)
    assert (accepted.matched, accepted.pending) == (2, 0)
    theirs, total = list_risk_persons(session, other_epidemiologist, RiskFilter(channel="request"))
    assert total == 2
    assert {r.category for r in theirs} == {"close", "secondary"}
    assert list_risk_persons(session, epidemiologist, RiskFilter())[1] == 0  # not Anci's persons

    progress = request_progress(session, epidemiologist, request_id)
    first, second = progress.items
    with pytest.raises(Conflict, match="under the measure"):
        report_outcome(session, other_epidemiologist, first.id, "controlled")
    move_risk_persons(session, other_epidemiologist, [r.id for r in theirs], "under_measure")
    report_outcome(session, other_epidemiologist, first.id, "controlled")
    with pytest.raises(NotFound):  # the sender does not report outcomes
        report_outcome(session, epidemiologist, second.id, "not_found")
    assert request_progress(session, epidemiologist, request_id).request.status == "accepted"
    report_outcome(session, other_epidemiologist, second.id, "not_ours", "moved to Beijing")

    done = request_progress(session, epidemiologist, request_id)
    assert done.request.status == "done"
    assert done.outcomes == {"controlled": 1, "not_ours": 1}
    assert not done.overdue


def test_a_request_already_accepted_cannot_be_accepted_again(
    session: Session, registry: Registry, epidemiologist: Actor, other_epidemiologist: Actor
) -> None:
    request_id = ask_guangyang(session, epidemiologist, registry)
    accept_request(session, other_epidemiologist, request_id)
    with pytest.raises(Conflict, match="already accepted"):
        accept_request(session, other_epidemiologist, request_id)
    sources = session.query(RiskSource).filter(RiskSource.channel == "request").count()
    assert sources == 2


def test_an_unanswered_request_is_overdue_after_its_deadline(
    session: Session, registry: Registry, epidemiologist: Actor, frozen: FrozenClock
) -> None:
    request_id = ask_guangyang(session, epidemiologist, registry)
    assert not request_progress(session, epidemiologist, request_id).overdue
    frozen.advance(hours=13)
    assert request_progress(session, epidemiologist, request_id).overdue


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to_region": "131002001"}, "to_region"),  # one's own jurisdiction
        ({"to_region": "1310x"}, "to_region"),
        ({"subject": " "}, "subject"),
        ({"deadline_at": "past"}, "deadline_at"),
        ({"persons": []}, "persons"),
        ({"persons": [RequestPerson(name="无证件 no documents")]}, "persons[1]"),
        (
            {"persons": [RequestPerson(phone="13800000000", category="friend")]},
            "persons[1].category",
        ),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(
    session: Session, epidemiologist: Actor, change: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {
        "to_region": GUANGYANG,
        "subject": "s",
        "deadline_at": clock.now() + timedelta(hours=1),
        "persons": [RequestPerson(phone="13800000000")],
    }
    args.update(change)
    if args["deadline_at"] == "past":
        args["deadline_at"] = clock.now() - timedelta(minutes=1)
    with pytest.raises(InvalidInput) as error:
        send_request(session, epidemiologist, **args)  # type: ignore[arg-type]
    assert error.value.field == field


def test_a_request_outside_the_system_goes_out_as_a_file_and_outcomes_come_back(
    session: Session, registry: Registry, epidemiologist: Actor
) -> None:
    request = send_request(
        session,
        epidemiologist,
        to_region="110105",  # Chaoyang, Beijing: not in this system
        subject="密接协查",
        deadline_at=clock.now() + timedelta(hours=24),
        persons=[
            RequestPerson(id_number="110105199001011234", name="张三"),
            RequestPerson(phone="+8613912345678", name="李四"),
        ],
    )
    exported = export_request(session, epidemiologist, request.id, "csv")
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    assert rows[0][:3] == ["身份证号", "联系电话", "姓名"]
    assert request.status == "exported"
    rows[1][5], rows[2][5] = "已找到并管控", "查无此人"
    rows.append(["110105199912319999", "", "王五", "close", "", "controlled", ""])
    back = io.StringIO()
    csv.writer(back).writerows(rows)
    result = import_outcomes(session, epidemiologist, request.id, back.getvalue().encode(), "b.csv")
    assert (result.updated, result.unchanged) == (2, 0)
    assert [n for n, _ in result.rejects] == [4]
    progress = request_progress(session, epidemiologist, request.id)
    assert progress.outcomes == {"controlled": 1, "not_found": 1}
    assert progress.request.status == "done"


def test_handing_risk_persons_to_another_region_marks_them_outside(
    session: Session, registry: Registry, epidemiologist: Actor, other_epidemiologist: Actor
) -> None:
    risk = note_risk_person(
        session,
        person_id=registry.a1[0].id,
        region_code=registry.a1[0].region_code,
        category="close",
        channel="investigation",
        source="case 1",
        reported_at=clock.now(),
    ).risk_person
    session.commit()
    request = send_request_for_risk_persons(
        session,
        epidemiologist,
        [risk.id],
        to_region=GUANGYANG,
        subject="在广阳区工作的密接",
        deadline_at=clock.now() + timedelta(hours=12),
    )
    assert session.get(RiskPerson, risk.id).status == "outside_region"  # type: ignore[union-attr]
    items = request_progress(session, other_epidemiologist, request.id).items
    assert [i.id_number for i in items] == [mask_identity(registry.a1[0].id_number)]  # a list
    with pytest.raises(InvalidInput, match="outside_region"):
        send_request_for_risk_persons(
            session,
            epidemiologist,
            [risk.id],
            to_region=GUANGYANG,
            subject="again",
            deadline_at=clock.now() + timedelta(hours=12),
        )


def test_a_handed_over_person_is_answered_for_by_the_receiver_without_touching_the_senders_record(
    session: Session, registry: Registry, epidemiologist: Actor, other_epidemiologist: Actor
) -> None:
    risk = note_risk_person(
        session,
        person_id=registry.a1[1].id,
        region_code=registry.a1[1].region_code,
        category="close",
        channel="investigation",
        source="case 2",
        reported_at=clock.now(),
    ).risk_person
    session.commit()
    request = send_request_for_risk_persons(
        session,
        epidemiologist,
        [risk.id],
        to_region=GUANGYANG,
        subject="在广阳区的密接",
        deadline_at=clock.now() + timedelta(hours=12),
    )
    export_request(session, epidemiologist, request.id, "csv")  # a copy for the file: no state
    accept_request(session, other_epidemiologist, request.id)
    assert list_risk_persons(session, other_epidemiologist, RiskFilter())[1] == 0
    [item] = request_progress(session, other_epidemiologist, request.id).items
    report_outcome(session, other_epidemiologist, item.id, "controlled", "已送集中隔离点")
    assert request_progress(session, epidemiologist, request.id).request.status == "done"
    assert session.get(RiskPerson, risk.id).status == "outside_region"  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="outside the system"):
        import_outcomes(session, epidemiologist, request.id, b"outcome\ncontrolled\n", "x.csv")


def test_an_export_in_an_unknown_format_is_refused(
    session: Session, registry: Registry, epidemiologist: Actor
) -> None:
    request_id = ask_guangyang(session, epidemiologist, registry)
    with pytest.raises(InvalidInput, match="fmt"):
        export_request(session, epidemiologist, request_id, "pdf")
