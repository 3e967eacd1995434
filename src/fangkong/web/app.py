"""The application factory: ``uvicorn fangkong.web.app:create_app --factory``.

Wiring only: session cookie, static files, the routers of every capability
(``ROUTERS``; a new capability appends its ``api.router`` and
``views.router``), the authenticated OpenAPI documents, ``/health``, and the
one handler that maps the exception tree of :mod:`fangkong.errors` to HTTP:
JSON ``{"error": {"field", "message"}}`` under ``/api``, an HTML page
elsewhere, and for a missing login a redirect to ``/login?next=...``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fangkong.access import api as access_api
from fangkong.access import views as access_views
from fangkong.config import get_settings
from fangkong.errors import FangkongError, InvalidInput, NotAuthenticated
from fangkong.people import api as people_api
from fangkong.people import views as people_views
from fangkong.quarantine import facility_views as quarantine_facility_views
from fangkong.quarantine import hospital_views as quarantine_hospital_views
from fangkong.quarantine import placement_views as quarantine_placement_views
from fangkong.quarantine import stay_views as quarantine_stay_views
from fangkong.regions import api as regions_api
from fangkong.regions import views as regions_views
from fangkong.testing import api as testing_api
from fangkong.testing import views as testing_views
from fangkong.tracing import api as tracing_api
from fangkong.tracing import case_views as tracing_case_views
from fangkong.tracing import views as tracing_views
from fangkong.web import auth, pages
from fangkong.web.csrf import CsrfFailed
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.i18n import MESSAGES
from fangkong.web.render import is_htmx, render

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "fangkong_session"

try:
    VERSION = version("fangkong")
except PackageNotFoundError:  # running from a source tree without installing
    VERSION = "0+unknown"

ROUTERS: list[APIRouter] = [
    auth.router,
    pages.router,
    regions_views.router,
    people_views.router,
    access_views.router,
    regions_api.router,
    people_api.router,
    access_api.router,
    testing_views.router,
    testing_api.router,
    tracing_views.router,
    tracing_case_views.router,
    tracing_api.router,
    quarantine_facility_views.router,
    quarantine_placement_views.router,
    quarantine_stay_views.router,
    quarantine_hospital_views.router,
]

# Scripts only from this site; inline styles are allowed (ECharts, htmx indicators).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)


class SecurityHeaders:
    """Headers every response gets (pure ASGI, so streaming is untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                added = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                ]
                if not scope["path"].startswith("/static/"):
                    # pages and API answers may hold personal data: no caches
                    added.append((b"cache-control", b"no-store"))
                for name, value in added:
                    if name not in present:
                        headers.append((name, value))
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Exception handlers are plain functions: Starlette runs them in the thread
# pool, since rendering a page may touch the database.

# Pages under /api: a stranger is sent to the login page, not answered 401.
API_PAGES = frozenset({"/api/docs"})


def is_api_path(path: str) -> bool:
    return (path == "/api" or path.startswith("/api/")) and path not in API_PAGES


def is_api(request: Request) -> bool:
    return is_api_path(request.url.path)


def _api_error(status: int, field: str | None, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"field": field, "message": message}}, status_code=status, headers=headers
    )


def _login_redirect(request: Request) -> Response:
    target = request.url.path
    if is_htmx(request):
        current = request.headers.get("HX-Current-URL", "")
        if current:
            parts = urlsplit(current)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
    elif request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    location = "/login?next=" + quote(target, safe="/")
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _error_page(request: Request, status: int, message: str, key: str | None = None) -> Response:
    heading = f"error.{status}" if f"error.{status}" in MESSAGES else "error.title"
    context = {
        "title": "error.title",
        "heading": heading,
        "status": status,
        "message": message,
        "message_key": key,
    }
    return render(request, "error.html", context, status_code=status)


def handle_fangkong_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FangkongError)
    status = exc.status_code
    if status >= 500:
        log.exception("unexpected error", exc_info=exc)
        message = "internal error"
    elif isinstance(exc, InvalidInput):
        message = exc.reason
    else:
        message = exc.message
    if is_api(request):
        return _api_error(status, getattr(exc, "field", None), message)
    if isinstance(exc, NotAuthenticated):
        return _login_redirect(request)
    key = "error.csrf" if isinstance(exc, CsrfFailed) else None
    if isinstance(exc, InvalidInput):
        message = f"{exc.field}: {exc.reason}"
    return _error_page(request, status, message, key)


def _loc(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _loc(first.get("loc", ()))
    message = str(first.get("msg", "invalid request"))
    if is_api(request):
        return _api_error(422, field or None, message)
    text_ = "; ".join(f"{_loc(e.get('loc', ()))}: {e.get('msg', '')}" for e in errors)
    return _error_page(request, 422, text_)


def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    response: Response
    if is_api(request):
        response = _api_error(exc.status_code, None, str(exc.detail))
    else:
        response = _error_page(request, exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


OUT_OF_RANGE = (
    "数值超出范围或内容过长 (a value is out of range or too long: a number beyond 64 bits, "
    "text longer than its field, or a control character)"
)


def handle_out_of_range(request: Request, exc: Exception) -> Response:
    """A value the database cannot hold that no check caught (an id of 25
    digits in a path, an over-long cell): the request's fault, answered as
    such instead of as a crash. Logged, since a check should have caught it."""
    log.warning("value out of range for %s %s: %s", request.method, request.url.path, exc)
    if is_api(request):
        return _api_error(422, None, OUT_OF_RANGE)
    return _error_page(request, 422, OUT_OF_RANGE)


def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    """Anything outside the tree is a bug: logged, answered without details.
    (Starlette's ServerErrorMiddleware logs the traceback and re-raises.)"""
    if is_api(request):
        return _api_error(500, None, "internal error")
    return _error_page(request, 500, "internal error")


docs_router = APIRouter(include_in_schema=False)


@docs_router.get("/api/openapi.json")
def openapi_document(request: Request, actor: CurrentActor) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@docs_router.get("/api/docs")
def openapi_page(request: Request, actor: CurrentActor) -> Response:
    return render(request, "docs.html", {"title": "API"})


health_router = APIRouter(include_in_schema=False)


@health_router.get("/health")
def health(session: SessionDep) -> JSONResponse:
    """Public liveness and database check; reveals no data."""
    try:
        session.execute(text("SELECT 1"))
    except Exception:
        log.exception("health check: database unreachable")
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="Fangkong API",
        version=VERSION,
        description="Outbreak prevention and control command system. Authenticate with "
        "`Authorization: Bearer <token>` (see `fangkong users token`) or a browser session.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    for router in (health_router, docs_router, *ROUTERS):
        app.include_router(router)
    app.add_exception_handler(FangkongError, handle_fangkong_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(OverflowError, handle_out_of_range)
    app.add_exception_handler(DataError, handle_out_of_range)
    app.add_exception_handler(Exception, handle_unexpected_error)
    return app
