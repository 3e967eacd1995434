"""The web interface and JSON API through a test client: login with CSRF,
jurisdiction scoping, masking, the import page, language, errors."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fangkong import clock
from fangkong.access.models import User
from fangkong.access.service import SYSTEM, issue_api_token
from fangkong.db import session_scope
from fangkong.people.models import Person
from fangkong.quarantine.models import NEIGHBOUR_RELATIONS, WARD_LEVELS
from fangkong.regions.catalog import Level, descendants
from fangkong.regions.service import ZONE_LEVELS
from fangkong.testing.models import RESULTS, TUBE_STATES
from fangkong.testing.planner import DESIGN_ORDER
from fangkong.tracing.models import (
    CATEGORIES,
    CHANNELS,
    CLASSIFICATIONS,
    CONTROL_BASES,
    DETECTION_ROUTES,
    MEASURES,
    RISK_STATUSES,
    SETTINGS,
    SEVERITIES,
)
from fangkong.tracing.requests import OUTCOMES
from fangkong.tracing.risk import note_risk_person
from fangkong.web.i18n import MESSAGES
from fangkong.web.render import template_dirs
from tests.factories import person_row, registry_csv
from tests.web.conftest import ANCI, ANCI_COMMUNITY, GUANGYANG_COMMUNITY, Site, csrf_of, login

LoginAs = Callable[[str], str]


def persons_in(prefix: str) -> int:
    with session_scope() as session:
        stmt = (
            select(func.count())
            .select_from(Person)
            .where(Person.region_code.startswith(prefix), Person.merged_into_id.is_(None))
        )
        return int(session.scalar(stmt) or 0)


def bearer_for(username: str) -> dict[str, str]:
    with session_scope() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        token = issue_api_token(session, SYSTEM, user_id=user_id, name="test")
    return {"Authorization": f"Bearer {token}"}


# --- login, logout, CSRF ------------------------------------------------------------


def test_login_with_the_form_token_opens_a_session_and_returns_to_next(
    client: TestClient,
) -> None:
    page = client.get("/login?next=/people")
    assert page.status_code == 200
    token = csrf_of(page.text)
    response = client.post(
        "/login",
        data={
            "username": "county",
            "password": "test-password-123",
            "csrf_token": token,
            "next": "/people",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/people"
    assert client.get("/people").status_code == 200


def test_login_without_or_with_a_wrong_csrf_token_is_forbidden(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    credentials = {"username": "county", "password": "test-password-123"}
    missing = client.post("/login", data=credentials)
    wrong = client.post("/login", data={**credentials, "csrf_token": token[::-1]})
    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert client.get("/").status_code == 303  # still not logged in


def test_a_wrong_password_shows_an_error_and_opens_no_session(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"username": "county", "password": "wrong-password", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert client.get("/").headers["location"] == "/login?next=/"


def test_repeated_failed_logins_are_throttled_even_with_the_right_password(
    client: TestClient,
) -> None:
    from fangkong.web.auth import FAILED_LOGINS_PER_WINDOW

    token = csrf_of(client.get("/login").text)
    for _ in range(FAILED_LOGINS_PER_WINDOW):
        wrong = {"username": "county", "password": "wrong-password", "csrf_token": token}
        assert client.post("/login", data=wrong).status_code == 401
    right = {"username": "county", "password": "test-password-123", "csrf_token": token}
    throttled = client.post("/login", data=right)
    assert throttled.status_code == 429
    assert "15 分钟" in throttled.text
    assert client.get("/").status_code == 303  # still not logged in


def test_login_never_redirects_to_another_site(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "username": "county",
            "password": "test-password-123",
            "csrf_token": token,
            "next": "//evil.example/steal",
        },
    )
    assert response.headers["location"] == "/"
    assert client.get("/lang/en?next=https://evil.example").headers["location"] == "/"


def test_state_changing_pages_need_the_session_csrf_token(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    token = login_as("county")
    person = site.persons["王小次"]
    without = client.post(f"/people/{person}", data={"relation": "子女"})
    wrong = client.post(f"/people/{person}", data={"relation": "子女", "csrf_token": "x" * 43})
    wrong_header = client.post(
        f"/people/{person}", data={"relation": "子女"}, headers={"X-CSRF-Token": "nope"}
    )
    assert [r.status_code for r in (without, wrong, wrong_header)] == [403, 403, 403]
    assert "刷新页面" in without.text
    assert "子女" not in client.get(f"/people/{person}").text
    ok = client.post(f"/people/{person}", data={"relation": "子女", "csrf_token": token})
    assert ok.status_code == 303
    by_header = client.post(
        f"/people/{person}", data={"relation": "子"}, headers={"X-CSRF-Token": token}
    )
    assert by_header.status_code == 303


def test_logout_needs_the_token_and_ends_the_session(client: TestClient, login_as: LoginAs) -> None:
    token = login_as("county")
    assert client.post("/logout").status_code == 403
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert client.get("/").headers["location"].startswith("/login")


def test_api_calls_with_the_session_cookie_need_the_csrf_header(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    token = login_as("county")
    person = site.persons["王小次"]
    refused = client.patch(f"/api/people/{person}", json={"relation": "子"})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"].startswith("CSRF")
    accepted = client.patch(
        f"/api/people/{person}", json={"relation": "子"}, headers={"X-CSRF-Token": token}
    )
    assert accepted.status_code == 200


def test_a_bearer_token_works_without_session_or_csrf(site: Site) -> None:
    client = TestClient(site.app)
    headers = bearer_for("county")
    person = site.persons["王小次"]
    assert client.get("/api/me", headers=headers).json()["jurisdiction"] == ANCI
    response = client.patch(f"/api/people/{person}", json={"relation": "子"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["relation"] == "子"


# --- jurisdiction --------------------------------------------------------------------


def test_a_county_user_cannot_see_or_change_another_countys_person(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    token = login_as("county")
    outsider = site.persons["李广阳"]
    household = site.households["H-GY-1"]
    assert client.get(f"/people/{outsider}").status_code == 404
    assert client.get(f"/api/people/{outsider}").status_code == 404
    assert client.get(f"/households/{household}").status_code == 404
    assert client.get(f"/api/households/{household}").status_code == 404
    patched = client.patch(
        f"/api/people/{outsider}", json={"phone": "13900000000"}, headers={"X-CSRF-Token": token}
    )
    assert patched.status_code == 404
    assert patched.json() == {"error": {"field": None, "message": "person not found"}}
    posted = client.post(f"/people/{outsider}", data={"phone": "13900000000", "csrf_token": token})
    assert posted.status_code == 404

    page = client.get("/people", params={"q": "李广阳"}).text
    assert 'data-testid="people-results"' not in page
    assert "没有记录" in page
    api = client.get("/api/people", params={"q": "李广阳"}).json()
    assert api == {"total": 0, "limit": 50, "offset": 0, "items": []}
    everyone = client.get("/api/people", params={"limit": 500}).json()
    assert everyone["total"] == persons_in(ANCI)
    assert all(p["region_code"].startswith(ANCI) for p in everyone["items"])
    assert client.get("/api/people", params={"region": GUANGYANG_COMMUNITY}).json()["total"] == 0

    home = client.get("/").text
    assert f'data-testid="persons-count">{persons_in(ANCI):,}<' in home
    assert client.get("/regions/131003").status_code == 404
    assert client.get("/api/regions/131003/children").status_code == 404
    children = client.get("/api/regions/131000/children").json()
    assert [c["code"] for c in children] == [ANCI]  # the city shows only the own county

    with session_scope() as session:
        person = session.get(Person, outsider)
        assert person is not None
        assert person.phone != "+8613900000000"


def test_a_community_worker_sees_only_the_own_township(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    login_as("worker")
    assert client.get(f"/people/{site.persons['王安次']}").status_code == 200
    response = client.get("/api/people", params={"region": "131002"}).json()
    assert response["total"] == persons_in(ANCI + "001")


# --- masking and roles -----------------------------------------------------------------


def test_lists_mask_personal_data_and_the_person_page_shows_it_to_permitted_roles(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    login_as("county")
    with session_scope() as session:
        person = session.get(Person, site.persons["王安次"])
        assert person is not None
        whole_id, whole_phone = person.id_number, person.phone or ""
    listing = client.get("/people", params={"q": "王安次"}).text
    assert whole_id not in listing
    assert re.search(r"1310\*+\d{3}[\dX]", listing)
    assert whole_id not in client.get("/api/people", params={"q": whole_id}).text
    assert whole_id not in client.get("/people/export.csv").content.decode("utf-8-sig")
    members = client.get(f"/households/{site.households['H-ANCI-1']}").text
    assert "王小次" in members
    page = client.get(f"/people/{site.persons['王安次']}").text
    assert whole_id in page
    assert whole_phone in page


def test_a_role_without_personal_data_permission_sees_masked_person_pages(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    login_as("sampler")
    page = client.get(f"/people/{site.persons['王安次']}").text
    with session_scope() as session:
        person = session.get(Person, site.persons["王安次"])
        assert person is not None
        assert person.id_number not in page
    assert "修改联系信息" not in page  # sampling staff may not edit
    nav = page.split("<nav")[1]
    assert "操作日志" not in nav
    assert "导入" not in nav


def test_a_role_without_registry_permission_is_refused_and_sees_no_registry_links(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    login_as("lab")
    home = client.get("/").text
    assert "您的角色不能查看人口底数" in home
    assert 'href="/people"' not in home
    assert client.get("/people").status_code == 403
    assert client.get("/api/people").status_code == 403
    assert client.get("/audit").status_code == 403
    assert client.get(f"/api/people/{site.persons['王安次']}").status_code == 403


# --- editing and audit -------------------------------------------------------------------


def test_editing_a_phone_on_the_person_page_saves_it_and_the_audit_log_shows_it(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    token = login_as("county")
    person = site.persons["王安次"]
    response = client.post(
        f"/people/{person}",
        data={"name": "王安次", "phone": "139 0000 1234", "relation": "户主", "csrf_token": token},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/people/{person}?saved=true"
    page = client.get(response.headers["location"]).text
    assert "+8613900001234" in page
    assert "已保存" in page
    audit = client.get("/audit", params={"object_type": "person", "object_id": str(person)})
    assert "person.update" in audit.text
    api = client.get("/api/audit", params={"action": "person.update", "object_id": str(person)})
    assert api.json()[0]["changes"]["phone"][1] == "+8613900001234"


def test_an_invalid_phone_is_refused_with_the_field_named(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    token = login_as("county")
    person = site.persons["王安次"]
    page = client.post(f"/people/{person}", data={"phone": "12", "csrf_token": token})
    assert page.status_code == 422
    assert "phone: 不是有效的电话号码" in page.text
    api = client.patch(
        f"/api/people/{person}", json={"phone": "12"}, headers={"X-CSRF-Token": token}
    )
    assert api.status_code == 422
    assert api.json()["error"]["field"] == "phone"
    bad_query = client.get("/api/people", params={"limit": "many"})
    assert bad_query.status_code == 422
    assert bad_query.json()["error"]["field"] == "query.limit"


# --- import ----------------------------------------------------------------------------------


def test_the_import_page_shows_the_summary_and_the_rejects_report_downloads(
    client: TestClient, login_as: LoginAs
) -> None:
    token = login_as("county")
    good = [
        person_row(ANCI_COMMUNITY, 40 + i, name=f"导入{i}", household="H-IMP") for i in range(3)
    ]
    bad_id = person_row(ANCI_COMMUNITY, 50, name="坏号码")
    bad_id.id_number = bad_id.id_number[:-1] + ("0" if bad_id.id_number[-1] != "0" else "1")
    foreign = person_row(GUANGYANG_COMMUNITY, 51, name="外县人")
    data = registry_csv([*good, bad_id, foreign])

    form = client.get("/import").text
    assert 'enctype="multipart/form-data"' in form
    response = client.post(
        "/import",
        data={"csrf_token": token},
        files={"file": ("registry.csv", data, "text/csv")},
    )
    assert response.status_code == 200, response.text
    html = response.text
    assert 'data-testid="import-accepted">3<' in html
    assert 'data-testid="import-unchanged">0<' in html
    assert 'data-testid="import-rejected">2<' in html
    assert bad_id.id_number in html  # the rejects table shows what was refused
    link = re.search(r'href="(/import/(\d+)/rejects\.csv)"', html)
    assert link

    report = client.get(link.group(1))
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["身份证号", "姓名"]
    assert sorted(r[1] for r in rows[1:]) == sorted(["坏号码", "外县人"])

    again = client.post(
        "/import", data={"csrf_token": token}, files={"file": ("registry.csv", data, "text/csv")}
    )
    assert 'data-testid="import-unchanged">3<' in again.text


def test_the_import_page_says_how_many_risk_records_followed_a_move(
    client: TestClient, login_as: LoginAs
) -> None:
    token = login_as("county")
    row = person_row(ANCI_COMMUNITY, 70, name="迁居者")

    def upload() -> str:
        response = client.post(
            "/import",
            data={"csrf_token": token},
            files={"file": ("move.csv", registry_csv([row]), "text/csv")},
        )
        assert response.status_code == 200, response.text
        return response.text

    assert 'data-testid="import-risk-moved"' not in upload()
    with session_scope() as session:
        person = session.scalars(select(Person).where(Person.id_number == row.id_number)).one()
        note_risk_person(
            session,
            person_id=person.id,
            region_code=person.region_code,
            category="close",
            channel="screening",
            source="社区排查",
            reported_at=clock.now(),
        )
        session.commit()
    row.region_code = descendants(ANCI, Level.VILLAGE)[1].code
    moved = upload()
    assert re.search(r'data-testid="import-risk-moved">[^<]*[:：] ?1</p>', moved)


def test_another_county_cannot_download_the_rejects_report(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    headers = bearer_for("county")
    api = TestClient(site.app)
    bad = person_row(ANCI_COMMUNITY, 60, name="坏区划")
    bad.region_code = ANCI + "999999"  # no such community
    result = api.post(
        "/api/people/import",
        files={"file": ("r.csv", registry_csv([bad]), "text/csv")},
        headers=headers,
    ).json()
    batch = result["batch_id"]
    assert result["rejected"] == 1
    assert result["rejects"][0]["row"] == 2
    assert api.get(f"/api/people/import/{batch}/rejects", headers=headers).status_code == 200
    login_as("other")
    assert client.get(f"/import/{batch}/rejects.csv").status_code == 404
    assert client.get(f"/api/people/import/{batch}/rejects").status_code == 404
    assert api.get(f"/import/{batch}/rejects.csv", headers=bearer_for("lab")).status_code == 403


def test_an_unreadable_file_is_explained_on_the_import_page(
    client: TestClient, login_as: LoginAs
) -> None:
    token = login_as("county")
    response = client.post(
        "/import",
        data={"csrf_token": token},
        files={"file": ("people.csv", "姓名,电话\n张三,1\n".encode(), "text/csv")},
    )
    assert response.status_code == 422
    assert "文件无法读取" in response.text
    assert "缺少必填列" in response.text
    empty = client.post("/import", data={"csrf_token": token})
    assert empty.status_code == 422
    assert "请选择要上传的文件" in empty.text
    api = client.post(
        "/api/people/import",
        files={"file": ("people.csv", b"", "text/csv")},
        headers={"X-CSRF-Token": token},
    )
    assert api.status_code == 422
    assert "empty" in api.json()["error"]["message"]


def test_exports_are_files_in_the_import_format(client: TestClient, login_as: LoginAs) -> None:
    login_as("county")
    exported = client.get("/people/export.csv", params={"region": ANCI_COMMUNITY})
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["证件类型", "身份证号", "姓名"]
    assert len(rows) - 1 == persons_in(ANCI_COMMUNITY)
    xlsx = client.get("/people/export.xlsx")
    assert xlsx.content[:2] == b"PK"
    api = client.get("/api/people/export", params={"format": "xlsx"})
    assert api.status_code == 200
    assert api.content[:2] == b"PK"


# --- duplicates, regions, zones ---------------------------------------------------------------


def test_a_duplicate_suspect_is_resolved_by_keeping_one_record(
    client: TestClient, site: Site, login_as: LoginAs
) -> None:
    token = login_as("county")
    page = client.get("/duplicates").text
    assert page.count('data-testid="suspect"') >= 1
    suspect = re.search(r'action="/duplicates/(\d+)/resolve"', page)
    assert suspect
    keep = re.search(r'name="keep_person_id" value="(\d+)"', page)
    assert keep
    before = persons_in(ANCI)
    response = client.post(
        f"/duplicates/{suspect.group(1)}/resolve",
        data={"same_person": "true", "keep_person_id": keep.group(1), "csrf_token": token},
    )
    assert response.status_code == 303
    assert persons_in(ANCI) == before - 1
    assert "已处理" in client.get(response.headers["location"]).text
    again = client.post(
        f"/duplicates/{suspect.group(1)}/resolve",
        data={"same_person": "false", "csrf_token": token},
    )
    assert again.status_code == 409


def test_the_region_page_shows_ancestors_children_population_and_chart(
    client: TestClient, login_as: LoginAs
) -> None:
    login_as("county")
    assert client.get("/regions").headers["location"] == f"/regions/{ANCI}"
    page = client.get(f"/regions/{ANCI}").text
    assert "河北省" in page
    assert "廊坊市" in page
    assert f'data-testid="region-population">{persons_in(ANCI):,}<' in page
    assert "data-chart=" in page
    assert f'href="/people?region={ANCI}001"' in page
    found = client.get("/api/regions/search", params={"q": "安次"}).json()
    assert [r["code"] for r in found] == [ANCI]


def test_zones_are_designated_listed_and_lifted_through_the_api(site: Site) -> None:
    api = TestClient(site.app)
    county, other = bearer_for("county"), bearer_for("other")
    created = api.post(
        "/api/zones",
        json={"name": "测试封控区", "level": "sealed", "areas": [{"region_code": ANCI_COMMUNITY}]},
        headers=county,
    )
    assert created.status_code == 201, created.text
    zone = created.json()
    assert zone["region_code"] == ANCI_COMMUNITY
    assert [z["id"] for z in api.get("/api/zones", headers=county).json()] == [zone["id"]]
    assert api.get("/api/zones", headers=other).json() == []
    assert api.post(f"/api/zones/{zone['id']}/lift", headers=other).status_code == 404
    assert api.post(f"/api/zones/{zone['id']}/lift", headers=county).status_code == 200
    assert api.get("/api/zones", headers=county).json() == []
    naive = api.post(
        "/api/zones",
        json={
            "name": "x",
            "level": "sealed",
            "areas": [{"region_code": ANCI_COMMUNITY}],
            "starts_at": "2022-03-01T00:00:00",
        },
        headers=county,
    )
    assert naive.status_code == 422


# --- language, htmx, docs ---------------------------------------------------------------------


def test_the_language_switch_shows_english_labels(client: TestClient, login_as: LoginAs) -> None:
    login_as("county")
    chinese = client.get("/people").text
    assert "人口底数" in chinese
    assert "退出" in chinese
    assert 'lang="zh-CN"' in chinese
    switched = client.get("/lang/en?next=/people")
    assert switched.headers["location"] == "/people"
    english = client.get("/people").text
    for label in ("Registry", "Regions", "Import", "Duplicates", "Audit log", "Log out"):
        assert label in english
    assert "人口底数" not in english
    assert 'lang="en"' in english
    client.get("/lang/zh")
    assert "人口底数" in client.get("/people").text


def test_the_language_can_be_chosen_before_login(client: TestClient) -> None:
    client.get("/lang/en")
    assert "Username" in client.get("/login").text
    login(client, "county")
    assert "Log out" in client.get("/").text  # the choice survives the login


def test_an_htmx_request_gets_only_the_page_content(client: TestClient, login_as: LoginAs) -> None:
    login_as("county")
    fragment = client.get("/people", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment
    assert "<h1>人口底数</h1>" in fragment
    boosted = client.get("/people", headers={"HX-Request": "true", "HX-Boosted": "true"}).text
    assert "<html" in boosted


def test_the_api_documents_are_served_only_to_logged_in_users(
    client: TestClient, login_as: LoginAs
) -> None:
    assert client.get("/api/openapi.json").status_code == 401
    assert client.get("/api/docs").headers["location"].startswith("/login")
    login_as("county")
    spec = client.get("/api/openapi.json").json()
    for path in (
        "/api/people",
        "/api/people/{person_id}",
        "/api/people/import",
        "/api/zones",
        "/api/audit",
        "/api/regions/{code}/children",
    ):
        assert path in spec["paths"], path
    assert not any(p.startswith(("/login", "/people", "/static")) for p in spec["paths"])
    assert "swagger-ui-bundle.js" in client.get("/api/docs").text


def test_responses_carry_security_headers_and_a_secure_session_cookie(
    client: TestClient,
) -> None:
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


def test_every_translation_key_used_in_templates_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for directory in template_dirs():
        for template in Path(directory).rglob("*.html"):
            used.update(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", template.read_text()))
    assert used, "no t() calls found"
    missing = sorted(k for k in used if not k.endswith(".") and k not in MESSAGES)
    assert not missing, missing
    # keys built in templates from data: every value must have its key
    built = {
        "regions.level.": [level.value for level in Level],
        "regions.zone.": list(ZONE_LEVELS),
        "people.sex.": ["M", "F"],
        "testing.design.": list(DESIGN_ORDER),
        "testing.result.": list(RESULTS),
        "testing.state.": list(TUBE_STATES),
        "testing.status.": ["open", "closed"],
        "testing.task.": ["open", "done", "overdue", "cancelled"],
        "tracing.category.": list(CATEGORIES),
        "tracing.channel.": list(CHANNELS),
        "tracing.measure.": list(MEASURES),
        "tracing.risk_status.": list(RISK_STATUSES),
        "tracing.request_status.": ["sent", "accepted", "exported", "done"],
        "tracing.outcome.": [*OUTCOMES, "awaiting"],
        "tracing.report_status.": ["new", "accepted", "dismissed"],
        "tracing.classification.": list(CLASSIFICATIONS),
        "tracing.severity.": [s or "none" for s in SEVERITIES],
        "tracing.route.": list(DETECTION_ROUTES),
        "tracing.basis.": [b for b in CONTROL_BASES if b],
        "tracing.setting.": list(SETTINGS),
        "hospital.level.": list(WARD_LEVELS),
        "qalert.status.": ["open", "closed"],
        "qalert.relation.": list(NEIGHBOUR_RELATIONS),
    }
    assert {k for k in used if k.endswith(".")} <= set(built)
    for prefix, values in built.items():
        assert all(prefix + v in MESSAGES for v in values), prefix
    assert all(zh and en for zh, en in MESSAGES.values())


def test_the_health_check_is_public_and_checks_the_database(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
