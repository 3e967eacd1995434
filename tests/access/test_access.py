"""Users, passwords, tokens, jurisdiction scoping and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent, User
from fangkong.access.rules import Permission, Role, covers, has_permission
from fangkong.access.service import (
    SYSTEM,
    Actor,
    actor_for_token,
    authenticate,
    create_user,
    issue_api_token,
    list_audit,
    revoke_api_token,
)
from fangkong.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from tests.factories import PASSWORD


def test_jurisdiction_is_a_code_prefix() -> None:
    assert covers("1310", "131002001001")
    assert covers("", "131002")
    assert not covers("131002", "131003001001")
    assert not covers("131002001", "131002")


def test_roles_have_only_their_permissions() -> None:
    assert has_permission(Role.COMMANDER, Permission.AUDIT_READ)
    assert not has_permission(Role.COMMUNITY_WORKER, Permission.AUDIT_READ)
    assert not has_permission(Role.LAB, Permission.REGISTRY_READ)
    assert not has_permission("no-such-role", Permission.REGISTRY_READ)


def test_passwords_are_stored_as_argon2_hashes(session: Session, county_commander: Actor) -> None:
    user = session.get_one(User, county_commander.user_id)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_login_with_the_right_password_is_audited(
    session: Session, county_commander: Actor
) -> None:
    actor = authenticate(session, county_commander.username, PASSWORD)
    assert actor == county_commander
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.login")).one()
    assert event.actor_id == county_commander.user_id


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    session: Session, county_commander: Actor
) -> None:
    with pytest.raises(NotAuthenticated) as wrong:
        authenticate(session, county_commander.username, "not-the-password")
    with pytest.raises(NotAuthenticated) as unknown:
        authenticate(session, "nobody", "not-the-password")
    assert wrong.value.message == unknown.value.message


def test_new_users_are_validated_field_by_field(session: Session) -> None:
    with pytest.raises(InvalidInput, match="password"):
        create_user(
            session, SYSTEM, username="a", password="short", role="commander", jurisdiction="1310"
        )
    with pytest.raises(InvalidInput, match="role"):
        create_user(
            session, SYSTEM, username="a", password=PASSWORD, role="king", jurisdiction="1310"
        )
    with pytest.raises(InvalidInput, match="jurisdiction"):
        create_user(
            session, SYSTEM, username="a", password=PASSWORD, role="commander", jurisdiction="13100"
        )


def test_a_username_is_unique(session: Session, county_commander: Actor) -> None:
    with pytest.raises(Conflict):
        create_user(
            session,
            SYSTEM,
            username=county_commander.username,
            password=PASSWORD,
            role="commander",
            jurisdiction="131002",
        )


def test_an_admin_creates_users_only_inside_its_jurisdiction(
    session: Session, make_actor: Callable[..., Actor]
) -> None:
    county_admin = make_actor("admin", "131002")
    create_user(
        session,
        county_admin,
        username="inside",
        password=PASSWORD,
        role="community_worker",
        jurisdiction="131002001",
    )
    with pytest.raises(PermissionDenied):
        create_user(
            session,
            county_admin,
            username="outside",
            password=PASSWORD,
            role="community_worker",
            jurisdiction="131003001",
        )


def test_a_commander_cannot_manage_users(session: Session, county_commander: Actor) -> None:
    with pytest.raises(PermissionDenied):
        create_user(
            session,
            county_commander,
            username="x",
            password=PASSWORD,
            role="commander",
            jurisdiction="131002",
        )


def test_api_tokens_act_as_their_user_until_revoked_or_expired(
    session: Session, lab: Actor
) -> None:
    assert lab.user_id is not None
    plain = issue_api_token(session, SYSTEM, user_id=lab.user_id, name="lab feed")
    assert actor_for_token(session, plain) == lab
    expiring = issue_api_token(
        session,
        SYSTEM,
        user_id=lab.user_id,
        name="short",
        expires_at=clock.now() + timedelta(minutes=5),
    )
    clock.set_clock(lambda: datetime.now(UTC) + timedelta(minutes=6))
    with pytest.raises(NotAuthenticated):
        actor_for_token(session, expiring)
    clock.reset_clock()
    token_id = session.scalars(
        select(AuditEvent.object_id).where(AuditEvent.action == "token.issue")
    ).first()
    assert token_id is not None
    revoke_api_token(session, SYSTEM, int(token_id))
    with pytest.raises(NotAuthenticated):
        actor_for_token(session, plain)
    with pytest.raises(NotAuthenticated):
        actor_for_token(session, "fk_not-a-token")


def test_the_audit_log_is_scoped_and_only_for_roles_that_may_read_it(
    session: Session,
    county_commander: Actor,
    other_county_commander: Actor,
    community_worker: Actor,
) -> None:
    authenticate(session, county_commander.username, PASSWORD)
    authenticate(session, other_county_commander.username, PASSWORD)
    mine = list_audit(session, county_commander, action="user.login")
    assert {e.actor_label for e in mine} == {county_commander.username}
    with pytest.raises(PermissionDenied):
        list_audit(session, community_worker)


def test_another_countys_user_cannot_get_a_token_for_my_user(
    session: Session, make_actor: Callable[..., Actor], lab: Actor
) -> None:
    other_admin = make_actor("admin", "1309")
    assert lab.user_id is not None
    with pytest.raises(NotFound):
        issue_api_token(session, other_admin, user_id=lab.user_id, name="x")
