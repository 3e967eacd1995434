"""Cross-site request forgery protection for the cookie session.

The session holds a random token; every page carries it in
``<meta name="csrf-token">`` (sent by htmx as the ``X-CSRF-Token`` header,
see ``static/app.js``) and every form as the hidden field ``csrf_token``.
A state-changing request authenticated by the session cookie must carry it
(:func:`fangkong.web.deps.current_actor` checks); a request with a bearer
token needs none, since a browser never adds that header by itself.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request

from fangkong.errors import PermissionDenied

SESSION_KEY = "csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class CsrfFailed(PermissionDenied):
    """The request did not carry this session's CSRF token (403)."""

    def __init__(self) -> None:
        super().__init__("CSRF token missing or wrong: reload the page and try again")


def token(request: Request) -> str:
    """This session's token, created on first use."""
    value = request.session.get(SESSION_KEY)
    if not isinstance(value, str) or not value:
        value = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = value
    return value


def rotate(request: Request) -> str:
    request.session[SESSION_KEY] = secrets.token_urlsafe(32)
    return str(request.session[SESSION_KEY])


def check(request: Request, submitted: str | None) -> None:
    expected = request.session.get(SESSION_KEY)
    if (
        not isinstance(expected, str)
        or not expected
        or not submitted
        or not secrets.compare_digest(expected.encode(), submitted.encode())
    ):
        raise CsrfFailed()


async def submitted_token(request: Request) -> str | None:
    """The token from the header, else from the form body."""
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(_FORM_TYPES):
        value = (await request.form()).get(FIELD)
        return value if isinstance(value, str) else None
    return None


async def verify_request(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    check(request, await submitted_token(request))
