"""The facility and capacity pages over HTTP: a facility created through the
form (a bad field is named and nothing typed is lost), its board built from
a building layout, inspected, staffed and its rooms marked cleaned; the
capacity page with its chart, forecast and alert; and a facility manager
who sees only their facility (another one's board answers 404).

The pages run on the web tests' seeded SQLite site (tests/web/conftest.py)
with two facility managers added; it is built here under its own name,
since this folder's ``site`` is a quarantine site."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fangkong.access.service import SYSTEM, create_user
from fangkong.db import session_scope
from fangkong.quarantine.facilities import add_rooms, assign_staff, create_facility
from fangkong.quarantine.models import Facility, Room
from fangkong.quarantine.rules import RoomLayout
from fangkong.web.auth import failed_logins
from tests.factories import PASSWORD
from tests.web.conftest import (
    ANCI,
    ANCI_COMMUNITY,
    GUANGYANG,
    GUANGYANG_COMMUNITY,
    Site,
    login,
    seeded_site,
)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The seeded web site plus a facility of each county, each with a
    facility manager: ``fm`` (Anci) and ``fm_gy`` (Guangyang); ``fm_new``
    is an Anci facility manager who works for none yet."""
    with seeded_site(tmp_path_factory.mktemp("quarantine_web")) as site:
        with session_scope() as session:
            for username, jurisdiction, name, region in (
                ("fm", ANCI, "安次一号隔离酒店", ANCI_COMMUNITY),
                ("fm_gy", GUANGYANG, "广阳一号隔离酒店", GUANGYANG_COMMUNITY),
            ):
                user = create_user(
                    session, SYSTEM, username=username, password=PASSWORD,
                    role="facility_manager", jurisdiction=jurisdiction, display_name=username,
                )  # fmt: skip
                facility = create_facility(
                    session, SYSTEM, name=name, kind="quarantine_site", region_code=region
                )
                add_rooms(session, SYSTEM, facility.id, RoomLayout("A", 1, 2, 4))
                assign_staff(session, SYSTEM, facility.id, user.id)
            create_user(
                session, SYSTEM, username="fm_new", password=PASSWORD,
                role="facility_manager", jurisdiction=ANCI, display_name="fm_new",
            )  # fmt: skip
        yield site


@pytest.fixture
def client(web: Site) -> Iterator[TestClient]:
    failed_logins.clear()
    with TestClient(web.app, follow_redirects=False) as test_client:
        yield test_client


def facility_id(name: str) -> int:
    with session_scope() as session:
        found = session.scalar(select(Facility.id).where(Facility.name == name))
    assert found is not None
    return found


def room_id(facility: int, number: str) -> int:
    with session_scope() as session:
        found = session.scalar(
            select(Room.id).where(Room.facility_id == facility, Room.number == number)
        )
    assert found is not None
    return found


def value_of(html: str, name: str) -> str:
    match = re.search(rf'<input name="{name}"[^>]*value="([^"]*)"', html)
    assert match, f"no input {name}"
    return match.group(1)


def test_a_facility_created_with_a_bad_field_is_refused_naming_it_and_nothing_is_lost(
    client: TestClient,
) -> None:
    token = login(client, "county")
    page = client.get("/quarantine/facilities")
    assert page.status_code == 200
    assert "安次一号隔离酒店" in page.text
    assert "广阳一号隔离酒店" not in page.text
    form = {
        "name": "安次区体育馆隔离点",
        "kind": "quarantine_site",
        "region_code": "999999999999",
        "address": "体育路 1 号",
        "csrf_token": token,
    }
    refused = client.post("/quarantine/facilities", data=form)
    assert refused.status_code == 422
    error = refused.text.split('data-testid="form-error">')[1].split("</p>")[0]
    assert "region_code" in error
    assert value_of(refused.text, "name") == "安次区体育馆隔离点"
    assert value_of(refused.text, "address") == "体育路 1 号"
    assert value_of(refused.text, "region_code") == "999999999999"
    assert 'aria-invalid="true"' in refused.text

    created = client.post("/quarantine/facilities", data={**form, "region_code": ANCI_COMMUNITY})
    assert created.status_code == 303
    board = client.get(created.headers["location"])
    assert "安次区体育馆隔离点" in board.text
    assert "尚无检查记录" in board.text
    assert "不可接收" in board.text


def test_a_board_is_built_from_a_layout_inspected_staffed_and_its_rooms_cleaned(
    client: TestClient,
) -> None:
    token = login(client, "county")
    created = client.post(
        "/quarantine/facilities",
        data={"name": "安次区党校隔离点", "kind": "quarantine_site",
              "region_code": ANCI_COMMUNITY, "address": "", "csrf_token": token},
    )  # fmt: skip
    location = created.headers["location"]
    layout = {"building": "1号楼", "first_floor": "2", "last_floor": "x", "rooms_per_floor": "3",
              "capacity": "1", "private_bathroom": "1", "kind": "room", "ward_level": "",
              "csrf_token": token}  # fmt: skip
    refused = client.post(f"{location}/rooms", data=layout)
    assert refused.status_code == 422
    assert "last_floor" in refused.text
    assert value_of(refused.text, "building") == "1号楼"
    assert client.post(f"{location}/rooms", data={**layout, "last_floor": "3"}).status_code == 303

    board = client.get(location).text
    assert 'data-testid="floor-1号楼-2"' in board
    assert 'data-testid="floor-1号楼-3"' in board
    assert re.search(r'data-testid="room-301" data-status="ready"', board)

    failing = {"items": ["three_zones", "two_passages"], "inspected_on": "2022-03-14",
               "inspector": "区卫健局", "note": "", "csrf_token": token}  # fmt: skip
    assert client.post(f"{location}/inspections", data=failing).status_code == 303
    board = client.get(location).text
    assert "未通过" in board
    assert "独立卫生间" in board  # the failed item is named
    everything = [
        "three_zones", "two_passages", "private_bathrooms", "ventilation",
        "sewage_and_waste", "closed_loop", "staff_protection",
    ]  # fmt: skip
    passing = {**failing, "items": everything}
    bad_date = client.post(f"{location}/inspections", data={**passing, "inspected_on": "昨天"})
    assert bad_date.status_code == 422
    assert "inspected_on" in bad_date.text
    assert client.post(f"{location}/inspections", data=passing).status_code == 303
    assert 'data-testid="receiving" class="">可接收' in client.get(location).text

    new_id = int(location.rsplit("/", 1)[1])
    board = client.get(location).text
    assert "尚未指定隔离点管理员" in board
    option = re.search(r'<option value="(\d+)">fm_new \(fm_new\)</option>', board)
    assert option, "the Anci facility managers are offered"
    assert "fm_gy" not in board  # another county's manager is not
    staffed = client.post(
        f"{location}/staff", data={"user_id": option.group(1), "csrf_token": token}
    )
    assert staffed.status_code == 303
    staff = client.get(location).text.split('data-testid="staff">')[1].split("</ul>")[0]
    assert "fm_new" in staff

    room = room_id(new_id, "201")
    data = {"room_id": str(room), "status": "cleaning", "csrf_token": token}
    assert client.post(f"{location}/room-status", data=data).status_code == 303
    assert re.search(r'data-testid="room-201" data-status="cleaning"', client.get(location).text)
    cleaned = client.post(f"{location}/room-status", data={**data, "status": "ready"})
    assert cleaned.status_code == 303
    assert re.search(r'data-testid="room-201" data-status="ready"', client.get(location).text)


def test_a_facility_manager_sees_only_their_facility(client: TestClient) -> None:
    mine, theirs = facility_id("安次一号隔离酒店"), facility_id("广阳一号隔离酒店")
    token = login(client, "fm")
    listed = client.get("/quarantine/facilities").text
    assert "安次一号隔离酒店" in listed
    assert "广阳一号隔离酒店" not in listed
    assert "安次区体育馆隔离点" not in listed  # in their county, not theirs
    assert 'data-testid="facility-form"' not in listed  # may not create facilities
    assert client.get(f"/quarantine/facilities/{mine}").status_code == 200
    assert client.get(f"/quarantine/facilities/{theirs}").status_code == 404
    other_room = room_id(theirs, "101")
    changed = client.post(
        f"/quarantine/facilities/{theirs}/room-status",
        data={"room_id": str(other_room), "status": "cleaning", "csrf_token": token},
    )
    assert changed.status_code == 404
    sneaked = client.post(
        f"/quarantine/facilities/{mine}/room-status",
        data={"room_id": str(other_room), "status": "cleaning", "csrf_token": token},
    )
    assert sneaked.status_code == 404
    capacity = client.get("/quarantine/capacity?level=community").text
    assert "安次一号隔离酒店" in capacity
    assert "广阳一号隔离酒店" not in capacity
    assert "安次区体育馆隔离点" not in capacity
    total = capacity.split('data-testid="capacity-total">')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">(\d+)</td>', total)[:2] == ["1", "8"]
    assert 'data-testid="command-view-only"' in capacity  # no forecast of one site
    assert 'data-testid="forecast"' not in capacity

    client.cookies.clear()
    login(client, "other")
    assert client.get(f"/quarantine/facilities/{mine}").status_code == 404
    assert client.get(f"/quarantine/facilities/{theirs}").status_code == 200


def test_the_capacity_page_shows_regions_a_chart_the_forecast_and_alerts(
    client: TestClient,
) -> None:
    login(client, "county")
    page = client.get("/quarantine/capacity")
    assert page.status_code == 200
    assert "data-stacked-chart=" in page.text
    assert 'data-testid="region-131002"' in page.text
    assert 'data-testid="forecast-days"' in page.text
    assert "/static/quarantine.js" in page.text
    by_community = client.get(f"/quarantine/capacity?level=community&region={ANCI}")
    assert f'data-testid="region-{ANCI_COMMUNITY}"' in by_community.text
    assert client.get("/quarantine/capacity?region=131003").status_code == 404
    assert client.get("/quarantine/capacity?level=street").status_code == 422
