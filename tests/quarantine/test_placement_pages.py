"""The placement page over HTTP: the persons waiting for a room and the
sites, a preview that writes nothing, the confirmation that places the
batch, errors naming the field, and another county seeing none of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fangkong import clock
from fangkong.access.service import SYSTEM
from fangkong.db import session_scope
from fangkong.quarantine.facilities import add_rooms, create_facility, record_inspection
from fangkong.quarantine.models import Stay
from fangkong.quarantine.rules import RoomLayout
from fangkong.tracing.models import RiskPerson
from fangkong.tracing.risk import note_risk_person
from fangkong.web.auth import failed_logins
from tests.quarantine.conftest import ALL_HOLD, INSPECTED_ON
from tests.web.conftest import ANCI, ANCI_COMMUNITY, Site, login, seeded_site


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The web tests' seeded site (tests/web/conftest.py), plus a quarantine
    site of Anci and the two Anci persons of household H-ANCI-1 at risk."""
    with seeded_site(tmp_path_factory.mktemp("placement_web")) as site:
        with session_scope() as session:
            facility = create_facility(
                session, SYSTEM, name="安次隔离点", kind="quarantine_site", region_code=ANCI
            )
            add_rooms(session, SYSTEM, facility.id, RoomLayout("A", 1, 2, 6))
            record_inspection(
                session, SYSTEM, facility.id, items=ALL_HOLD,
                inspected_on=INSPECTED_ON, inspector="市卫健委",
            )  # fmt: skip
            site.households["facility"] = facility.id
            for name in ("王安次", "王小次"):
                note_risk_person(
                    session,
                    person_id=site.persons[name],
                    region_code=ANCI_COMMUNITY,
                    category="close",
                    channel="investigation",
                    source="病例甲",
                    reported_at=clock.now(),
                    last_exposure_at=clock.now() - timedelta(days=1),
                )
            session.commit()  # note_risk_person is a step and does not commit
        yield site


@pytest.fixture
def client(web: Site) -> Iterator[TestClient]:
    failed_logins.clear()
    with TestClient(web.app, follow_redirects=False) as test_client:
        yield test_client


def risk_ids(web: Site) -> list[int]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(RiskPerson.id)
                .where(RiskPerson.person_id.in_([web.persons["王安次"], web.persons["王小次"]]))
                .order_by(RiskPerson.id)
            )
        )


def test_a_batch_is_previewed_then_placed_from_the_page(web: Site, client: TestClient) -> None:
    token = login(client, "county")
    page = client.get("/quarantine/placement")
    assert page.status_code == 200
    assert "集中隔离安置" in page.text
    assert "王安次" in page.text
    assert "安次隔离点" in page.text
    facility = web.households["facility"]
    form = {"csrf_token": token, "facility_ids": [str(facility)], "all_matching": "true"}
    preview = client.post("/quarantine/placement", data={**form, "action": "preview"})
    assert preview.status_code == 200, preview.text
    assert 'data-testid="plan"' in preview.text
    assert "确认安置" in preview.text
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Stay)) == 0
    ids = [str(i) for i in risk_ids(web)]
    bad = client.post(
        "/quarantine/placement",
        data={**form, "all_matching": "", "ids": ids, "exceptions": "1", "action": "preview"},
    )
    assert bad.status_code == 422
    assert "exceptions" in bad.text
    placed = client.post(
        "/quarantine/placement",
        data={**form, "all_matching": "", "ids": ids, "action": "confirm"},
    )
    assert placed.status_code == 200, placed.text
    assert 'data-testid="placed"' in placed.text
    with session_scope() as session:
        statuses = session.scalars(
            select(RiskPerson.status).where(RiskPerson.id.in_(risk_ids(web)))
        ).all()
        assert statuses == ["under_measure", "under_measure"]
        assert session.scalar(select(func.count()).select_from(Stay)) == 2
    again = client.get("/quarantine/placement")
    assert "王安次" not in again.text  # placed: no longer waiting


def test_another_county_sees_neither_the_site_nor_the_persons(
    web: Site, client: TestClient
) -> None:
    token = login(client, "other")
    page = client.get("/quarantine/placement")
    assert page.status_code == 200
    assert "安次隔离点" not in page.text
    assert "王安次" not in page.text
    refused = client.post(
        "/quarantine/placement",
        data={
            "csrf_token": token,
            "facility_ids": [str(web.households["facility"])],
            "ids": ["1"],
            "action": "preview",
        },
    )
    assert refused.status_code == 404


def test_a_role_without_placement_cannot_open_the_page(web: Site, client: TestClient) -> None:
    login(client, "sampler")
    assert client.get("/quarantine/placement").status_code == 403
