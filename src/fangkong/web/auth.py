"""Login, logout and the language switch: the only pages open without a
session (with ``/health`` and ``/static``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from fangkong.access.service import authenticate
from fangkong.errors import NotAuthenticated
from fangkong.web import csrf
from fangkong.web.deps import SESSION_USER_KEY, CurrentActor, SessionDep
from fangkong.web.i18n import LANGUAGES, normalize_lang
from fangkong.web.ratelimit import SlidingWindowLimiter
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)

# Failed logins allowed per username and per client address in 15 minutes,
# against password guessing (OWASP Authentication Cheat Sheet: throttle
# failed attempts per account).
FAILED_LOGINS_PER_WINDOW = 10
failed_logins = SlidingWindowLimiter(FAILED_LOGINS_PER_WINDOW, timedelta(minutes=15))


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: never another host (open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    csrf.check(request, csrf_token)
    keys = (f"user:{username.strip()}", f"client:{request.client.host if request.client else ''}")
    if any(failed_logins.blocked(key) for key in keys):
        context = {"next": safe_next(next), "error": "auth.throttled", "username": username}
        return render(request, "login.html", context, status_code=429)
    try:
        actor = authenticate(session, username.strip(), password)
    except NotAuthenticated:
        for key in keys:
            failed_logins.record(key)
        context = {"next": safe_next(next), "error": "auth.failed", "username": username}
        return render(request, "login.html", context, status_code=401)
    failed_logins.reset(keys[0])
    lang = request.session.get("lang")
    request.session.clear()  # a new session at every login
    if lang:
        request.session["lang"] = lang
    request.session[SESSION_USER_KEY] = actor.user_id
    csrf.rotate(request)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, actor: CurrentActor) -> Response:
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/") -> Response:
    """Public: changes only the interface language of this browser session."""
    if code in LANGUAGES:
        request.session["lang"] = normalize_lang(code)
    return RedirectResponse(safe_next(next), status_code=303)
