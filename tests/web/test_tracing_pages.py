"""The tracing pages over HTTP: a resident's self-report from the public
form to the staff's triage and the risk-person list; a cross-region request
sent from one county's page and accepted on the other's; each county sees
only its own."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from fangkong import clock
from fangkong.config import get_settings
from fangkong.db import session_scope
from fangkong.people.models import Person
from tests.factories import resident_id
from tests.web.conftest import ANCI_COMMUNITY, GUANGYANG, Site, csrf_of, login


def _report_form(**change: str) -> dict[str, str]:
    form = {
        "name": "钱七",
        "phone": "13977778888",
        "id_number": "",
        "region_code": ANCI_COMMUNITY,
        "place_id": "",
        "note": "与确诊病例同乘 K1 路公交",
        "exposed_on": (clock.today_local() - timedelta(days=1)).isoformat(),
    }
    form.update(change)
    return form


def test_a_self_report_goes_from_the_public_form_to_the_risk_person_list(
    site: Site, client: TestClient
) -> None:
    page = client.get("/report")
    assert page.status_code == 200
    token = csrf_of(page.text)
    sent = client.post("/report", data={**_report_form(), "csrf_token": token})
    assert sent.status_code == 200
    assert "已收到" in sent.text
    again = client.post("/report", data={**_report_form(), "csrf_token": token})
    assert "已报告过" in again.text
    bad = client.post("/report", data={**_report_form(phone="123", note=""), "csrf_token": token})
    assert bad.status_code == 422
    assert "手机号不正确" in bad.text
    assert "请选择去过的风险场所" in bad.text

    client.cookies.clear()
    token = login(client, "epi")
    triage = client.get("/tracing/self-reports")
    assert "钱七" in triage.text
    report_id = triage.text.split('data-testid="self-report-')[1].split('"')[0]
    accepted = client.post(
        f"/tracing/self-reports/{report_id}",
        data={"decision": "accept", "category": "general", "csrf_token": token},
    )
    assert accepted.status_code == 303
    listed = client.get("/tracing/risk-persons?channel=self_report")
    assert "钱七" in listed.text
    assert "群众自报" in listed.text

    client.cookies.clear()
    login(client, "other_epi")
    theirs = client.get("/api/tracing/risk-persons").json()
    assert theirs["total"] == 0


def test_a_request_sent_from_one_county_is_accepted_by_the_other(
    site: Site, client: TestClient
) -> None:
    with session_scope() as session:
        number = session.scalar(select(Person.id_number).where(Person.name == "李小阳"))
    token = login(client, "epi")
    sent = client.post(
        "/tracing/requests",
        data={
            "to_region": GUANGYANG,
            "subject": "病例的同事",
            "hours": "12",
            "persons": f"{number},,李小阳,close",
            "csrf_token": token,
        },
    )
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert client.post(f"{location}/accept", data={"csrf_token": token}).status_code == 404

    client.cookies.clear()
    token = login(client, "other_epi")
    assert "病例的同事" in client.get("/tracing/requests").text
    accepted = client.post(f"{location}/accept", data={"csrf_token": token})
    assert accepted.status_code == 303
    page = client.get(location)
    assert "已接收" in page.text
    risk = client.get("/api/tracing/risk-persons?channel=request").json()
    assert [r["name"] for r in risk["rows"]] == ["李小阳"]

    client.cookies.clear()
    login(client, "epi")
    progress = client.get(f"/api{location}").json()
    assert progress["outcomes"] == {"": 1}
    assert client.get("/api/tracing/risk-persons?channel=request").json()["total"] == 0


def test_a_screening_list_uploaded_on_the_page_waits_for_a_person_when_uncertain(
    site: Site, client: TestClient
) -> None:
    """Two registered persons share a phone: a phone-only row of a screening
    list is kept as a pending match, which the epidemiologist resolves."""
    token = login(client, "epi")
    an_hour_ago = (clock.now() - timedelta(hours=1)).astimezone(get_settings().zone)
    listed = (
        "id_number,phone,name,category,source,reported_at\n"
        f",13812345678,,close,社区排查 1 组,{an_hour_ago:%Y-%m-%d %H:%M}\n"
    )
    page = client.post(
        "/tracing/risk-persons/import",
        data={"channel": "screening", "csrf_token": token},
        files={"file": ("list.csv", listed.encode(), "text/csv")},
    )
    assert page.status_code == 200, page.text
    assert "pending 1" in page.text
    pending = client.get("/tracing/pending")
    assert pending.text.count("赵重复") == 2
    pending_id = pending.text.split('data-testid="pending-')[1].split('"')[0]
    with session_scope() as session:
        chosen = session.scalars(select(Person.id).where(Person.name == "赵重复")).first()
    resolved = client.post(
        f"/tracing/pending/{pending_id}",
        data={"decision": "resolve", "person_id": str(chosen), "csrf_token": token},
    )
    assert resolved.status_code == 303
    risk = client.get("/api/tracing/risk-persons?channel=screening").json()
    assert [r["person_id"] for r in risk["rows"]] == [chosen]


def test_the_case_form_says_the_same_for_another_countys_person_and_for_nobody(
    site: Site, client: TestClient
) -> None:
    with session_scope() as session:
        theirs = session.scalar(select(Person.id_number).where(Person.name == "李广阳"))
    token = login(client, "epi")
    answers = []
    nobodys = resident_id("110105", date(1990, 1, 1), "M")
    for number in (str(theirs), nobodys):  # Guangyang's resident; nobody's
        answer = client.post(
            "/tracing/cases",
            data={
                "id_number": number,
                "classification": "confirmed",
                "detection_route": "fever_clinic",
                "sampled_at": "2022-03-14T08:00",
                "csrf_token": token,
            },
        )
        assert answer.status_code == 422
        answers.append(answer.text.split('role="alert">')[1].split("<")[0])
    assert answers[0] == answers[1]
    assert "本辖区没有可确定的此人" in answers[0]


def test_an_id_beyond_64_bits_is_refused_not_a_crash(site: Site, client: TestClient) -> None:
    login(client, "epi")
    page = client.get("/tracing/cases/99999999999999999999")
    assert page.status_code == 422
    assert "out of range" in page.text
    api = client.get("/api/tracing/requests/99999999999999999999")
    assert api.status_code == 422


def test_the_public_form_is_not_a_free_oracle_every_attempt_counts(
    site: Site, client: TestClient
) -> None:
    """Repeats and refusals store nothing, so they would pass the stored-report
    limits; the attempts limit stops probing who reported what."""
    from fangkong.tracing.views import REPORT_ATTEMPTS_PER_HOUR

    token = csrf_of(client.get("/report").text)
    form = {**_report_form(phone="13966667777", note="同乘 K2 路"), "csrf_token": token}
    assert "已收到" in client.post("/report", data=form).text
    for _ in range(REPORT_ATTEMPTS_PER_HOUR - 1):
        assert "已报告过" in client.post("/report", data=form).text
    probe = client.post("/report", data=form)
    assert probe.status_code == 429
    assert "已报告过" not in probe.text


def test_a_supervisor_hands_selected_risk_persons_to_another_county_from_the_list(
    site: Site, client: TestClient
) -> None:
    from fangkong.tracing.models import RiskPerson
    from fangkong.tracing.risk import note_risk_person

    with session_scope() as session:
        person = session.scalars(select(Person).where(Person.name == "王小次")).one()
        risk_id = note_risk_person(
            session,
            person_id=person.id,
            region_code=person.region_code,
            category="close",
            channel="investigation",
            source="病例 9",
            reported_at=clock.now(),
        ).risk_person.id
        session.commit()  # note_risk_person is a step: the caller commits
    token = login(client, "epi")
    sent = client.post(
        "/tracing/risk-persons",
        data={
            "action": "request",
            "ids": str(risk_id),
            "to_region": GUANGYANG,
            "subject": "在广阳区的密接",
            "csrf_token": token,
        },
    )
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/tracing/requests/")
    with session_scope() as session:
        assert session.get(RiskPerson, risk_id).status == "outside_region"  # type: ignore[union-attr]
