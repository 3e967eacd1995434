"""The mass-testing pages and API over HTTP, with the web cast: a sampler
fills and closes a tube on the phone page, the lab sends a positive result
through the API, the commander sees the follow-up on the positive board and
the coverage drill-down; another county sees none of it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from fangkong.access.service import SYSTEM
from fangkong.db import session_scope
from fangkong.people.models import Person
from fangkong.testing.models import FollowUpTask, TemporaryControl
from fangkong.testing.rounds import AreaPolicy, create_round, create_site
from tests.web.conftest import ANCI, ANCI_COMMUNITY, Site, csrf_of, login

LoginAs = Callable[[str], str]


def _round(name: str) -> int:
    with session_scope() as session:
        created = create_round(session, SYSTEM, name=name, areas=[AreaPolicy(ANCI, 10)])
        create_site(session, SYSTEM, name=f"{name} 广场", region_code=ANCI_COMMUNITY[:9])
        return created.id


def _id_numbers(*names: str) -> list[str]:
    with session_scope() as session:
        rows = session.execute(select(Person.name, Person.id_number).where(Person.name.in_(names)))
        found = {str(name): str(number) for name, number in rows}
    return [found[n] for n in names]


def test_a_tube_filled_on_the_phone_page_and_a_positive_result_reach_the_positive_board(
    site: Site, client: TestClient
) -> None:
    round_id = _round("页面轮次")
    first, second = _id_numbers("王安次", "王小次")

    token = login(client, "sampler")
    page = client.get("/sampling")
    assert page.status_code == 200
    assert "页面轮次" in page.text
    opened = client.post(
        "/sampling",
        data={"round_id": round_id, "barcode": "WEB-0001", "pool_size": 10, "csrf_token": token},
    )
    assert opened.status_code == 303
    assert opened.headers["location"] == "/sampling/WEB-0001"
    for number in (first, second):
        added = client.post(
            "/sampling/WEB-0001/add", data={"id_number": number, "csrf_token": token}
        )
        assert added.status_code == 200, added.text
    again = client.post(
        "/sampling",
        data={"round_id": round_id, "barcode": "WEB-0001", "pool_size": 10, "csrf_token": token},
    )
    assert again.status_code == 422
    assert "试管条码已被使用" in again.text
    closed = client.post("/sampling/WEB-0001/close", data={"csrf_token": token})
    assert "已封管" in closed.text
    assert closed.text.count("<li>") == 2

    client.cookies.clear()
    token = login(client, "lab")
    sent = client.post(
        "/api/testing/results",
        json={
            "barcode": "WEB-0001",
            "result": "positive",
            "tested_at": datetime.now(UTC).isoformat(),
            "lab": "市检测中心",
            "ct_orf1ab": 28.5,
            "ct_n": 30.1,
        },
        headers={"X-CSRF-Token": token},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["controlled"] == 2

    client.cookies.clear()
    login(client, "county")
    board = client.get(f"/rounds/{round_id}/positives")
    assert board.status_code == 200
    assert "WEB-0001" in board.text
    assert board.text.count("待复核") == 2
    with session_scope() as session:
        assert session.scalar(select(TemporaryControl).where(TemporaryControl.ended_at.is_(None)))
        assert len(session.scalars(select(FollowUpTask)).all()) >= 2
    lab_board = client.get(f"/rounds/{round_id}/lab")
    assert lab_board.status_code == 200
    assert "超时试管" in lab_board.text
    assert client.get(f"/rounds/{round_id}/files").status_code == 200
    dashboard = client.get(f"/rounds/{round_id}")
    assert dashboard.status_code == 200
    assert 'data-testid="positive-tubes">1<' in dashboard.text
    positives = client.get(f"/api/testing/rounds/{round_id}/positives").json()
    assert [p["barcode"] for p in positives] == ["WEB-0001"]
    assert all(m["under_control"] and m["task"] == "open" for m in positives[0]["members"])


def test_coverage_drills_down_to_the_missing_list_of_a_community(
    site: Site, client: TestClient
) -> None:
    round_id = _round("覆盖轮次")
    login(client, "county")
    top = client.get(f"/api/testing/rounds/{round_id}/coverage", params={"region": ANCI}).json()
    assert top["due"] == top["sampled"] + top["missing"]
    assert top["due"] == sum(child["due"] for child in top["children"])
    page = client.get(f"/rounds/{round_id}/coverage", params={"region": ANCI_COMMUNITY})
    assert page.status_code == 200
    assert 'data-testid="missing-list"' in page.text
    assert "王安次" in page.text
    export = client.get(
        f"/api/testing/rounds/{round_id}/missing.xlsx", params={"region": ANCI_COMMUNITY}
    )
    assert export.status_code == 200
    assert export.content[:2] == b"PK"


def test_another_county_sees_no_round_tube_or_figure_of_anci(
    site: Site, client: TestClient
) -> None:
    round_id = _round("保密轮次")
    token = login(client, "sampler")
    client.post(
        "/sampling",
        data={"round_id": round_id, "barcode": "WEB-SECRET", "pool_size": 10, "csrf_token": token},
    )
    client.cookies.clear()
    token = login(client, "other")
    assert client.get(f"/rounds/{round_id}").status_code == 404
    assert (
        client.get(f"/api/testing/rounds/{round_id}/coverage", params={"region": ANCI}).status_code
        == 404
    )
    assert client.get("/api/testing/tubes/WEB-SECRET").status_code == 404
    assert all(r["id"] != round_id for r in client.get("/api/testing/rounds").json())
    assert "保密轮次" not in client.get("/rounds").text


def test_the_planner_page_recommends_dorfman_at_one_percent(client: TestClient) -> None:
    login(client, "worker")
    page = client.get("/testing/plan", params={"prevalence": 0.01, "max_pool": 10})
    assert page.status_code == 200
    assert "Dorfman" in page.text
    assert "0.196" in page.text


def test_a_sampling_file_uploaded_on_the_files_page_is_counted_and_idempotent(
    site: Site, client: TestClient
) -> None:
    round_id = _round("文件轮次")
    (number,) = _id_numbers("赵重复")
    token = login(client, "sampler")
    csv = f"tube,pool_size,id_number,sampled_at\nFILE-1,10,{number},2022-03-14 08:30\n".encode()
    for expected in ("accepted 1, unchanged 0, rejected 0", "accepted 0, unchanged 1, rejected 0"):
        response = client.post(
            f"/rounds/{round_id}/files/samples",
            files={"file": ("samples.csv", csv, "text/csv")},
            data={"csrf_token": token},
        )
        assert response.status_code == 200, response.text
        assert expected in response.text
    assert csrf_of(response.text)
