"""The alert and hospital pages over HTTP: a commander reads a
cross-infection alert with its neighbours and closes it with a note; the
hospital board lists an overdue case, admits it to a free bed and
discharges it; the other county sees none of it.

Runs on the web fixtures' SQLite site (tests/web/conftest.py), built once
for this module; the data is written through the services, stays and tubes
as rows like in test_alerts.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fangkong import clock
from fangkong.access.models import User
from fangkong.access.service import SYSTEM, actor_of
from fangkong.db import session_scope
from fangkong.quarantine.alerts import raise_cross_infection_alerts
from fangkong.quarantine.facilities import add_rooms, create_facility, record_inspection
from fangkong.quarantine.models import Facility, QuarantineAlert
from fangkong.quarantine.rules import ZONE_CHECKLIST, RoomLayout
from fangkong.tracing.cases import record_case
from fangkong.tracing.views import report_attempts
from fangkong.web.auth import failed_logins
from tests.quarantine.test_alerts import NOW, place, result, room, take_tube
from tests.testing.conftest import Resident
from tests.web.conftest import ANCI_COMMUNITY, Site, login
from tests.web.conftest import site as web_site  # noqa: F401  (the module's web site)


@pytest.fixture
def client(web_site: Site) -> Iterator[TestClient]:  # noqa: F811
    failed_logins.clear()
    report_attempts.clear()
    with TestClient(web_site.app, follow_redirects=False) as test_client:
        yield test_client


def _facility(name: str, kind: str, layout: RoomLayout) -> int:
    with session_scope() as session:
        facility = create_facility(
            session, SYSTEM, name=name, kind=kind, region_code=ANCI_COMMUNITY
        )
        add_rooms(session, SYSTEM, facility.id, layout)
        record_inspection(
            session,
            SYSTEM,
            facility.id,
            items=dict.fromkeys(ZONE_CHECKLIST, True),
            inspected_on=clock.today_local() - timedelta(days=1),
            inspector="市卫健委",
        )
        return facility.id


def _resident(site: Site, name: str) -> Resident:
    from fangkong.people.models import Person

    with session_scope() as session:
        person = session.scalars(select(Person).where(Person.name == name)).first()
        assert person is not None
        return Resident(
            person.id, person.id_number, person.name, person.region_code, None, person.household_id
        )


def test_an_alert_page_shows_the_neighbours_and_closes_with_a_note(
    web_site: Site,  # noqa: F811
    client: TestClient,
) -> None:
    facility_id = _facility("页面隔离点", "quarantine_site", RoomLayout("B", 1, 1, 6))
    with session_scope() as session:
        facility = session.get(Facility, facility_id)
        assert facility is not None
        case_stay = place(session, _resident(web_site, "王安次"), room(session, facility, "102"))
        place(
            session,
            _resident(web_site, "王小次"),
            room(session, facility, "103"),
            category="secondary",
        )
        lab_user = session.scalars(select(User).where(User.username == "lab")).one()
        lab = actor_of(lab_user)
        negative = take_tube(session, case_stay, "WEB-NEG-1", NOW - timedelta(days=2))
        result(session, lab, negative, "negative")
        positive = take_tube(session, case_stay, "WEB-POS-1", NOW - timedelta(hours=2))
        result(session, lab, positive, "positive")
        raise_cross_infection_alerts(session.connection(), [positive.id], clock.now())
        session.commit()
        alert_id = session.scalars(
            select(QuarantineAlert.id).where(QuarantineAlert.tube_id == positive.id)
        ).one()

    token = login(client, "county")
    board = client.get("/quarantine/alerts")
    assert board.status_code == 200
    assert f'data-testid="alert-{alert_id}"' in board.text
    assert "交叉感染预警" in board.text
    page = client.get(f"/quarantine/alerts/{alert_id}")
    assert page.status_code == 200
    assert "王小次" in page.text
    assert "相邻房间" in page.text
    assert "立案" in page.text  # the commander may open the case
    empty = client.post(f"/quarantine/alerts/{alert_id}/close", data={"csrf_token": token})
    assert empty.status_code == 422
    assert "note" in empty.text
    closed = client.post(
        f"/quarantine/alerts/{alert_id}/close",
        data={"note": "邻居已转密接并加测", "csrf_token": token},
    )
    assert closed.status_code == 303
    assert "已关闭" in client.get(f"/quarantine/alerts/{alert_id}").text

    client.cookies.clear()
    login(client, "other")
    assert client.get(f"/quarantine/alerts/{alert_id}").status_code == 404
    assert f'data-testid="alert-{alert_id}"' not in client.get("/quarantine/alerts").text


def test_the_hospital_board_admits_an_overdue_case_and_discharges_it(
    web_site: Site,  # noqa: F811
    client: TestClient,
) -> None:
    hospital_id = _facility(
        "页面定点医院",
        "designated_hospital",
        RoomLayout("住院楼", 1, 1, 3, kind="bed", ward_level="mild"),
    )
    with session_scope() as session:
        confirmed = clock.now() - timedelta(hours=3)
        case = record_case(
            session,
            SYSTEM,
            person_id=_resident(web_site, "赵重复").id,
            classification="confirmed",
            severity="mild",
            detection_route="fever_clinic",
            sampled_at=confirmed - timedelta(hours=5),
            confirmed_at=confirmed,
        )
        case_id = case.id

    token = login(client, "county")
    board = client.get("/quarantine/hospitals")
    assert board.status_code == 200
    row = board.text.split(f'data-testid="awaiting-{case_id}"')[1].split("</tr>")[0]
    assert "超时未收治" in row
    bad = client.post(
        "/quarantine/hospitals/admit",
        data={"case_id": case_id, "facility_id": hospital_id, "bed": "999", "csrf_token": token},
    )
    assert bad.status_code == 422
    assert "bed" in bad.text
    admitted = client.post(
        "/quarantine/hospitals/admit",
        data={"case_id": case_id, "facility_id": hospital_id, "bed": "", "csrf_token": token},
    )
    assert admitted.status_code == 303
    board = client.get("/quarantine/hospitals")
    assert f'data-testid="awaiting-{case_id}"' not in board.text
    patient = board.text.split('data-testid="patient-')[1].split('"')[0]
    ward = board.text.split(f'data-testid="ward-{hospital_id}-mild"')[1].split("</tr>")[0]
    assert '<td class="num">3</td><td class="num">1</td><td class="num">2</td>' in ward
    discharged = client.post(
        f"/quarantine/hospitals/stays/{patient}/discharge",
        data={"note": "核酸两次阴性", "csrf_token": token},
    )
    assert discharged.status_code == 303
    assert f'data-testid="patient-{patient}"' not in client.get("/quarantine/hospitals").text

    client.cookies.clear()
    login(client, "other")
    theirs = client.get("/quarantine/hospitals").text
    assert "页面定点医院" not in theirs
    assert f'data-testid="awaiting-{case_id}"' not in theirs
