"""Users, logins, API tokens, the audit log and the one scoping helper.

Every service in Fangkong receives an :class:`Actor` and calls
:func:`require` for the permission and :func:`scope` / :func:`ensure_in_scope`
for the jurisdiction, so scoping is enforced in one place.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, Select, insert, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import ApiToken, AuditEvent, User
from fangkong.access.rules import (
    Permission,
    Role,
    covers,
    has_permission,
    is_valid_jurisdiction,
)
from fangkong.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Actor:
    """Who is acting: a logged-in user, a machine token's user, or the
    operator at the command line (``user_id`` None, whole country)."""

    user_id: int | None
    username: str
    role: str
    jurisdiction: str

    def can(self, permission: Permission) -> bool:
        return has_permission(self.role, permission)


SYSTEM = Actor(user_id=None, username="system", role=Role.ADMIN, jurisdiction="")


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.username, user.role, user.jurisdiction)


def require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise PermissionDenied(f"role {actor.role} may not {permission.value}")


def scope(stmt: SelectT, column: ColumnElement[str] | Any, actor: Actor) -> SelectT:
    """Restrict a query to the actor's jurisdiction."""
    if actor.jurisdiction == "":
        return stmt
    return stmt.where(column.startswith(actor.jurisdiction, autoescape=True))


def ensure_in_scope(actor: Actor, region_code: str | None, what: str = "object") -> None:
    """Raise NotFound (not Forbidden) so that out-of-scope rows stay invisible."""
    if region_code is None or not covers(actor.jurisdiction, region_code):
        raise NotFound(f"{what} not found")


def record_audit(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | int,
    region_code: str | None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the caller's transaction (no commit here)."""
    session.add(
        AuditEvent(
            at=clock.now(),
            actor_id=actor.user_id,
            actor_label=actor.username,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            region_code=region_code,
            changes=changes or {},
        )
    )


def record_audits(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    events: Iterable[tuple[str | int, str | None, dict[str, Any]]],
    at: datetime | None = None,
) -> None:
    """Add one audit event per ``(object id, region code, changes)`` to the
    caller's transaction in one statement (a bulk change audits thousands of
    objects; no commit here)."""
    at = at or clock.now()  # one time for the whole change
    rows = [
        {
            "at": at,
            "actor_id": actor.user_id,
            "actor_label": actor.username,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "region_code": region_code,
            "changes": changes,
        }
        for object_id, region_code, changes in events
    ]
    if rows:
        session.execute(insert(AuditEvent), rows)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_new_user(username: str, password: str, role: str, jurisdiction: str) -> None:
    if not username or len(username) > 64 or not username.replace("_", "").isalnum():
        raise InvalidInput("username", "use 1–64 letters, digits or _")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must have at least {MIN_PASSWORD_LENGTH} characters")
    if role not in {r.value for r in Role}:
        raise InvalidInput("role", f"unknown role {role!r}")
    if jurisdiction and not is_valid_jurisdiction(jurisdiction):
        raise InvalidInput(
            "jurisdiction", "must be a region-code prefix of 2, 4, 6, 9 or 12 digits"
        )


def create_user(
    session: Session,
    actor: Actor,
    *,
    username: str,
    password: str,
    role: str,
    jurisdiction: str,
    display_name: str = "",
    language: str = "zh",
) -> User:
    require(actor, Permission.USERS_MANAGE)
    _check_new_user(username, password, role, jurisdiction)
    if not covers(actor.jurisdiction, jurisdiction):
        raise PermissionDenied("you may only create users inside your own jurisdiction")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        jurisdiction=jurisdiction,
        language=language,
        active=True,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    record_audit(
        session,
        actor,
        "user.create",
        "user",
        user.id,
        jurisdiction or None,
        {"username": username, "role": role, "jurisdiction": jurisdiction},
    )
    session.commit()
    return user


def authenticate(session: Session, username: str, password: str) -> Actor:
    """Check a password; the same message for an unknown user and a wrong
    password, so logins cannot probe for usernames."""
    user = session.scalar(select(User).where(User.username == username))
    failure = NotAuthenticated("wrong username or password")
    if user is None or not user.active:
        _hasher.hash(password)  # spend the same time as a real check
        raise failure
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise failure from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = clock.now()
    actor = actor_of(user)
    record_audit(session, actor, "user.login", "user", user.id, user.jurisdiction or None)
    session.commit()
    return actor


def load_actor(session: Session, user_id: int) -> Actor:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotAuthenticated("your account is no longer active")
    return actor_of(user)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(
    session: Session,
    actor: Actor,
    *,
    user_id: int,
    name: str,
    expires_at: datetime | None = None,
) -> str:
    """Create a bearer token acting as ``user_id``; the plain token is
    returned once and never stored."""
    require(actor, Permission.USERS_MANAGE)
    user = session.get(User, user_id)
    if user is None or not covers(actor.jurisdiction, user.jurisdiction):
        raise NotFound("user not found")
    plain = "fk_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_sha256=_sha256(plain),
        created_at=clock.now(),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    record_audit(
        session,
        actor,
        "token.issue",
        "api_token",
        token.id,
        user.jurisdiction or None,
        {"user": user.username, "name": name},
    )
    session.commit()
    return plain


def revoke_api_token(session: Session, actor: Actor, token_id: int) -> None:
    require(actor, Permission.USERS_MANAGE)
    token = session.get(ApiToken, token_id)
    user = session.get(User, token.user_id) if token else None
    if token is None or user is None or not covers(actor.jurisdiction, user.jurisdiction):
        raise NotFound("token not found")
    token.revoked_at = clock.now()
    record_audit(session, actor, "token.revoke", "api_token", token.id, user.jurisdiction or None)
    session.commit()


def actor_for_token(session: Session, plain: str) -> Actor:
    token = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _sha256(plain)))
    now = clock.now()
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise NotAuthenticated("invalid or expired API token")
    actor = load_actor(session, token.user_id)
    token.last_used_at = now
    session.commit()
    return actor


def list_audit(
    session: Session,
    actor: Actor,
    *,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[AuditEvent]:
    require(actor, Permission.AUDIT_READ)
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if actor.jurisdiction:
        stmt = stmt.where(AuditEvent.region_code.startswith(actor.jurisdiction, autoescape=True))
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    return list(session.scalars(stmt.limit(min(limit, 1000)).offset(offset)))
