"""The stay pages over HTTP (the web tests' database and cast, see
tests/web/conftest.py): a stay's tests taken and its release refused with
the reason, then granted, with its printable certificate; the releases due
of a county and nobody else's; the home list where a community worker
orders home quarantine, checks a home in, and sees the missed check-ins."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from fangkong import clock
from fangkong.access.service import SYSTEM
from fangkong.db import session_scope
from fangkong.people.models import Person
from fangkong.quarantine.facilities import add_rooms, create_facility
from fangkong.quarantine.models import Room, Stay
from fangkong.quarantine.rules import RoomLayout
from fangkong.testing.results import record_lab_result
from fangkong.tracing.risk import note_risk_person
from tests.quarantine.test_stays import start_stay
from tests.testing.conftest import LAB_NAME, Resident
from tests.web import conftest as web
from tests.web.conftest import ANCI_COMMUNITY, Site, login

# The web tests' database and app (this folder's ``site`` is a facility).
site = web.site
client = web.client


def _resident(name: str) -> Resident:
    with session_scope() as session:
        p = session.scalars(select(Person).where(Person.name == name)).first()
        assert p is not None
        return Resident(p.id, p.id_number, p.name, p.region_code, p.address_id, p.household_id)


def _stay_in_a_facility(name: str, facility_name: str) -> int:
    """A stay of ``name`` in room 101 of a new site of Anci, planned to end today."""
    with session_scope() as session:
        facility = create_facility(
            session, SYSTEM, name=facility_name, kind="quarantine_site", region_code=ANCI_COMMUNITY
        )
        add_rooms(session, SYSTEM, facility.id, RoomLayout("A", 1, 1, 2))
        return start_stay(session, facility, _resident(name)).id


def _result(barcode: str, result: str = "negative") -> None:
    with session_scope() as session:
        record_lab_result(
            session,
            SYSTEM,
            barcode=barcode,
            result=result,
            tested_at=clock.now() - timedelta(minutes=5),
            lab=LAB_NAME,
        )


def test_a_stay_is_tested_refused_release_with_the_reason_then_released_with_a_certificate(
    site: Site, client: TestClient
) -> None:
    stay_id = _stay_in_a_facility("王安次", "页面测试隔离点")
    token = login(client, "county")
    page = client.get(f"/quarantine/stays/{stay_id}")
    assert page.status_code == 200
    assert 'data-testid="test-day-14"' in page.text

    for day in (1, 4, 7):
        taken = client.post(
            f"/quarantine/stays/{stay_id}/sample",
            data={"barcode": f"P{stay_id}-{day}", "day": "", "csrf_token": token},
        )
        assert taken.status_code == 303
        _result(f"P{stay_id}-{day}")
    checked = client.post(
        f"/quarantine/stays/{stay_id}/check",
        data={"temperature": "36.4", "note": "无不适", "csrf_token": token},
    )
    assert checked.status_code == 303

    refused = client.post(f"/quarantine/stays/{stay_id}/release", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "第14天核酸未采样" in refused.text
    assert "day 14 test not taken" in refused.text

    bad = client.post(
        f"/quarantine/stays/{stay_id}/check", data={"temperature": "高", "csrf_token": token}
    )
    assert bad.status_code == 422
    assert "体温请填数字" in bad.text
    client.post(
        f"/quarantine/stays/{stay_id}/sample",
        data={"barcode": f"P{stay_id}-14", "day": "14", "csrf_token": token},
    )
    _result(f"P{stay_id}-14")
    released = client.post(f"/quarantine/stays/{stay_id}/release", data={"csrf_token": token})
    assert released.status_code == 303

    page = client.get(f"/quarantine/stays/{stay_id}")
    assert 'data-testid="stay-ended"' in page.text
    assert "已解除隔离" in page.text
    certificate = client.get(f"/quarantine/stays/{stay_id}/certificate")
    assert certificate.status_code == 200
    assert "王安次" in certificate.text
    assert "@media print" in certificate.text
    assert "不可在线核验" in certificate.text  # unsigned: the credentials issue signs it
    with session_scope() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None
        room = session.get(Room, stay.room_id)
        assert room is not None
        assert room.status == "cleaning"


def test_a_certificate_before_the_release_is_refused(site: Site, client: TestClient) -> None:
    stay_id = _stay_in_a_facility("赵重复", "证明测试隔离点")
    login(client, "county")
    assert client.get(f"/quarantine/stays/{stay_id}/certificate").status_code == 409


def test_releases_due_are_listed_for_the_county_and_for_nobody_else(
    site: Site, client: TestClient
) -> None:
    stay_id = _stay_in_a_facility("王小次", "到期测试隔离点")
    login(client, "county")
    page = client.get("/quarantine/releases")
    assert page.status_code == 200
    assert "到期测试隔离点" in page.text
    assert f'data-testid="due-stay-{stay_id}"' in page.text
    assert "day 1 test not taken" in page.text

    client.cookies.clear()
    login(client, "other")
    theirs = client.get("/quarantine/releases")
    assert "到期测试隔离点" not in theirs.text
    assert client.get(f"/quarantine/stays/{stay_id}").status_code == 404


def test_a_community_worker_orders_home_quarantine_checks_in_and_sees_the_missed(
    site: Site, client: TestClient
) -> None:
    with session_scope() as session:
        person = session.scalars(
            select(Person).where(Person.name == "赵重复").order_by(Person.id.desc())
        ).first()
        assert person is not None
        noted = note_risk_person(
            session,
            person_id=person.id,
            region_code=person.region_code,
            category="general",
            channel="screening",
            source="test",
            reported_at=clock.now(),
        )
        session.commit()
        risk_id = noted.risk_person.id
    token = login(client, "worker")
    page = client.get("/quarantine/home")
    assert page.status_code == 200
    assert f'name="ids" value="{risk_id}"' in page.text

    ordered = client.post(
        "/quarantine/home/order",
        data={"ids": str(risk_id), "kind": "home_quarantine", "csrf_token": token},
    )
    assert ordered.status_code == 303
    with session_scope() as session:
        stay = session.scalars(select(Stay).where(Stay.risk_person_id == risk_id)).one()
        stay_id = stay.id
    page = client.get("/quarantine/home")
    assert f'data-testid="home-{stay_id}"' in page.text
    assert f'data-testid="missed-{stay_id}"' not in page.text  # began just now

    clock.set_clock(lambda: stay.started_at + timedelta(hours=30))
    page = client.get("/quarantine/home")
    assert f'data-testid="missed-{stay_id}"' in page.text
    client.cookies.clear()
    login(client, "other")
    assert f'data-testid="missed-{stay_id}"' not in client.get("/quarantine/home").text

    client.cookies.clear()
    token = login(client, "worker")
    checked = client.post(
        f"/quarantine/stays/{stay_id}/check",
        data={"seal_intact": "yes", "temperature": "36.8", "back": "home", "csrf_token": token},
    )
    assert checked.status_code == 303
    page = client.get("/quarantine/home")
    assert f'data-testid="missed-{stay_id}"' not in page.text
    assert "今日已查" in page.text
    home_stay = client.get(f"/quarantine/stays/{stay_id}")
    assert home_stay.status_code == 200
    assert "门磁/封条完好" in home_stay.text


def test_every_label_the_stay_pages_look_up_is_in_the_catalogue() -> None:
    from fangkong.quarantine.stay_views import KEYS
    from fangkong.web.i18n import MESSAGES

    keys = [key for labels in KEYS.values() for key in labels.values()]
    assert all(key in MESSAGES and all(MESSAGES[key]) for key in keys)
