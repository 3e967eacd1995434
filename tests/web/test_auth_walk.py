"""No data without authentication: every route of the app, every method,
asked by a stranger, answers 401 (API) or a redirect to /login (pages),
unless it is in the explicit public allow-list below.

The walk reads ``app.routes`` (and the files behind the ``/static`` mount),
so a route added later by any capability is checked without touching this
file; making a new route public means adding it to ``PUBLIC`` here, in
review.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fangkong.web.app import create_app, is_api_path
from tests.web.conftest import Site

# (path template, method) that anyone may call.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("/login", "GET"),
        ("/login", "POST"),
        ("/report", "GET"),  # the public self-report form (tracing/self_report.py)
        ("/report", "POST"),
        ("/health", "GET"),
        ("/lang/{code}", "GET"),  # sets only the interface language of the session
    }
)
PUBLIC_MOUNTS = frozenset({"/static"})
PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def dummy_path(template: str) -> str:
    """Fill path parameters: ids with 1, codes with a real county code."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return "1" if name == "id" or name.endswith("_id") else "131002"

    return PARAM.sub(value, template)


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """(path template, method) of every route, with included routers'
    prefixes applied (FastAPI keeps included routers as branches)."""
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if isinstance(original, Mount):
            continue
        if not isinstance(original, Route) or context.path is None:
            pytest.fail(f"unexpected route type {type(original).__name__}: {original!r}")
        found.extend((context.path, method) for method in sorted(context.methods or ()))
    return found


def static_files(app: FastAPI) -> list[str]:
    urls: list[str] = []
    for context in iter_route_contexts(app.routes):
        mount = context.original_route
        if not isinstance(mount, Mount):
            continue
        assert mount.path in PUBLIC_MOUNTS, f"mount {mount.path} is not in the public list"
        assert isinstance(mount.app, StaticFiles), f"mount {mount.path} is not static files"
        directory = Path(str(mount.app.directory))
        urls.extend(
            f"{mount.path}/{file.relative_to(directory).as_posix()}"
            for file in sorted(directory.rglob("*"))
            if file.is_file()
        )
    return urls


def _is_login_redirect(status: int, location: str | None) -> bool:
    return status in (302, 303, 307) and location is not None and location.startswith("/login")


def test_the_walk_sees_pages_api_docs_and_static_files(site: Site) -> None:
    paths = {path for path, _ in endpoints(site.app)}
    for expected in ("/", "/people", "/api/people", "/api/docs", "/api/openapi.json", "/login"):
        assert expected in paths
    assert "/static/app.css" in static_files(site.app)


def leaks_to_a_stranger(app: FastAPI) -> tuple[int, list[str]]:
    """Ask every non-public route without credentials; return how many were
    asked and those that did not refuse."""
    client = TestClient(app, follow_redirects=False)
    leaks: list[str] = []
    checked = 0
    for template, method in endpoints(app):
        if (template, method) in PUBLIC:
            continue
        path = dummy_path(template)
        response = client.request(method, path)
        checked += 1
        if is_api_path(path):
            if response.status_code != 401:
                leaks.append(f"{method} {path}: {response.status_code} (API must answer 401)")
            elif response.json() != {
                "error": {"field": None, "message": response.json()["error"]["message"]}
            }:
                leaks.append(f"{method} {path}: 401 body is not the error shape")
        elif not _is_login_redirect(response.status_code, response.headers.get("location")):
            leaks.append(
                f"{method} {path}: {response.status_code} {response.headers.get('location')}"
                " (page must redirect to /login)"
            )
    return checked, leaks


def test_every_route_refuses_a_stranger(site: Site) -> None:
    checked, leaks = leaks_to_a_stranger(site.app)
    assert checked > 20
    assert not leaks, "routes answering without authentication:\n" + "\n".join(leaks)


def test_the_walk_catches_a_route_that_forgets_authentication(site: Site) -> None:
    app = create_app()

    @app.get("/api/forgotten/{person_id}")
    def forgotten(person_id: int) -> dict[str, int]:
        return {"person_id": person_id}

    @app.post("/forgotten-page")
    def forgotten_page() -> dict[str, str]:
        return {}

    _, leaks = leaks_to_a_stranger(app)
    assert leaks == [
        "GET /api/forgotten/1: 200 (API must answer 401)",
        "POST /forgotten-page: 200 None (page must redirect to /login)",
    ]


def test_every_route_refuses_a_forged_bearer_token_and_session_cookie(site: Site) -> None:
    bad_bearer = {"Authorization": "Bearer fk_not-a-real-token"}
    client = TestClient(site.app, follow_redirects=False, cookies={"fangkong_session": "forged"})
    for template, method in endpoints(site.app):
        if (template, method) in PUBLIC:
            continue
        path = dummy_path(template)
        for headers in (bad_bearer, {"Authorization": "Basic YWRtaW46YWRtaW4="}, {}):
            response = client.request(method, path, headers=headers)
            if is_api_path(path):
                assert response.status_code == 401, f"{method} {path} {headers}"
            else:
                location = response.headers.get("location")
                assert _is_login_redirect(response.status_code, location), f"{method} {path}"


def test_htmx_requests_of_a_stranger_are_sent_to_login(site: Site) -> None:
    client = TestClient(site.app, follow_redirects=False)
    for template, method in endpoints(site.app):
        if (template, method) in PUBLIC or is_api_path(template):
            continue
        response = client.request(method, dummy_path(template), headers={"HX-Request": "true"})
        assert response.status_code == 401, f"{method} {template}"
        assert response.headers["HX-Redirect"].startswith("/login?next="), template


def test_public_routes_give_no_data(site: Site) -> None:
    client = TestClient(site.app, follow_redirects=False)
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    login = client.get("/login")
    assert login.status_code == 200
    assert "王安次" not in login.text
    report = client.get("/report")  # public by design: it lists only published risk places
    assert report.status_code == 200
    assert "王安次" not in report.text
    assert client.get("/lang/en").status_code == 303
    for url in static_files(site.app):
        assert client.get(url).status_code == 200, url


def test_routes_outside_the_allow_list_exist_for_every_public_entry(site: Site) -> None:
    """The allow-list names only routes that exist: a stale entry fails here."""
    existing = set(endpoints(site.app))
    assert existing >= PUBLIC, sorted(PUBLIC - existing)
