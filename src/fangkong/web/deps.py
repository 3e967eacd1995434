"""Typed dependencies at the edge (DESIGN.md habit 5).

``SessionDep`` is a database session for one request. ``CurrentActor`` is
who is calling: from ``Authorization: Bearer <token>`` (machines) or from
the signed session cookie (people); neither raises
:class:`~fangkong.errors.NotAuthenticated`, which the error handler turns
into 401 (API) or a redirect to ``/login`` (pages). For a state-changing
request authenticated by the cookie, ``CurrentActor`` also checks the CSRF
token (:mod:`fangkong.web.csrf`). Every route that is not in the public
allow-list of ``tests/web/test_auth_walk.py`` must depend on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from fangkong.access.service import Actor, actor_for_token, load_actor
from fangkong.db import get_sessionmaker
from fangkong.errors import NotAuthenticated
from fangkong.web import csrf

SESSION_USER_KEY = "user_id"
AuthMethod = Literal["bearer", "session"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="an API token issued with `fangkong users token`",
)


def get_db(request: Request) -> Iterator[Session]:
    session = get_sessionmaker()()
    request.state.db = session
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_db)]


def resolve_actor(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    method: AuthMethod
    if credentials is not None:
        actor = actor_for_token(session, credentials.credentials)
        method = "bearer"
    elif request.headers.get("authorization"):
        raise NotAuthenticated("use 'Authorization: Bearer <token>'")
    else:
        user_id = request.session.get(SESSION_USER_KEY)
        if not isinstance(user_id, int):
            raise NotAuthenticated("please log in")
        try:
            actor = load_actor(session, user_id)
        except NotAuthenticated:
            request.session.clear()
            raise
        method = "session"
    request.state.actor = actor
    request.state.auth_method = method
    return actor


async def current_actor(request: Request, actor: Annotated[Actor, Depends(resolve_actor)]) -> Actor:
    if request.state.auth_method == "session":
        await csrf.verify_request(request)
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
