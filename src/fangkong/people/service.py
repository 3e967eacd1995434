"""Registry reads and single-person changes, scoped to the actor's
jurisdiction. The bulk import lives in :mod:`fangkong.people.importing`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require, scope
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.people.columns import FIELDS, header_row
from fangkong.people.identity import Problem, mask_identity
from fangkong.people.models import Address, DuplicateSuspect, Household, Person
from fangkong.people.phones import check_phone, mask_phone

MAX_PAGE = 500


@dataclass(frozen=True)
class PersonView:
    """A person as a list or page shows it; masked unless the viewer may see
    personal data on the person's own page."""

    id: int
    id_type: str
    id_number: str
    name: str
    sex: str | None
    birth_date: str | None
    phone: str
    region_code: str
    building: str
    unit: str
    room: str
    household_id: int | None
    household_code: str
    relation: str


def _view(
    person: Person, address: Address | None, household: Household | None, unmasked: bool
) -> PersonView:
    phone = person.phone or ""
    return PersonView(
        id=person.id,
        id_type=person.id_type,
        id_number=person.id_number if unmasked else mask_identity(person.id_number),
        name=person.name,
        sex=person.sex,
        birth_date=person.birth_date.isoformat() if person.birth_date else None,
        phone=phone if unmasked else mask_phone(phone) if phone else "",
        region_code=person.region_code,
        building=address.building if address else "",
        unit=address.unit if address else "",
        room=address.room if address else "",
        household_id=person.household_id,
        household_code=household.code if household else "",
        relation=person.relation,
    )


def _search_stmt(
    actor: Actor, text: str = "", region: str = ""
) -> Select[Person, Address, Household]:
    stmt = (
        select(Person, Address, Household)
        .outerjoin(Address, Address.id == Person.address_id)
        .outerjoin(Household, Household.id == Person.household_id)
        .where(Person.merged_into_id.is_(None))
    )
    stmt = scope(stmt, Person.region_code, actor)
    if region:
        stmt = stmt.where(Person.region_code.startswith(region, autoescape=True))
    text = text.strip()
    if text:
        upper = text.upper()
        phone = check_phone(text)
        conditions = [Person.name == text, Person.id_number == upper]
        if phone.problem == Problem.OK and phone.normalized:
            conditions.append(Person.phone == phone.normalized)
        if not text.isdigit():  # a surname alone lists that family name
            conditions.append(Person.name.startswith(text, autoescape=True))
        stmt = stmt.where(or_(*conditions))
    return stmt


def search_persons(
    session: Session,
    actor: Actor,
    text: str = "",
    *,
    region: str = "",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PersonView], int]:
    """Search by name, full identity number or phone; masked results and the
    total count, both inside the jurisdiction."""
    require(actor, Permission.REGISTRY_READ)
    stmt = _search_stmt(actor, text, region)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(Person.region_code, Person.household_id, Person.id)
        .limit(min(limit, MAX_PAGE))
        .offset(offset)
    ).all()
    return [_view(p, a, h, unmasked=False) for p, a, h in rows], int(total)


def iter_persons(
    session: Session, actor: Actor, text: str = "", *, region: str = "", unmasked: bool = False
) -> Any:
    """Every matching person, streamed, for exports."""
    require(actor, Permission.REGISTRY_READ)
    if unmasked:
        require(actor, Permission.REGISTRY_READ_PERSONAL)
    stmt = _search_stmt(actor, text, region).order_by(Person.region_code, Person.id)
    for p, a, h in session.execute(stmt.execution_options(yield_per=5000)):
        yield _view(p, a, h, unmasked)


def person_held(session: Session, person_id: int) -> Person | None:
    """The person, read with a share lock held until the caller's
    transaction ends: a registry import cannot move them in between, so the
    region the caller writes on their exposures and risk record is current
    (tracing/registry_moves.py). A no-op lock on SQLite, whose writers take
    turns anyway."""
    return session.get(Person, person_id, with_for_update={"read": True}, populate_existing=True)


def _load(session: Session, actor: Actor, person_id: int) -> Person:
    person = session.get(Person, person_id)
    ensure_in_scope(actor, person.region_code if person else None, "person")
    assert person is not None
    return person


def get_person(session: Session, actor: Actor, person_id: int) -> PersonView:
    require(actor, Permission.REGISTRY_READ)
    person = _load(session, actor, person_id)
    address = session.get(Address, person.address_id) if person.address_id else None
    household = session.get(Household, person.household_id) if person.household_id else None
    return _view(person, address, household, actor.can(Permission.REGISTRY_READ_PERSONAL))


def household_members(
    session: Session, actor: Actor, household_id: int
) -> tuple[Household, list[PersonView]]:
    require(actor, Permission.REGISTRY_READ)
    household = session.get(Household, household_id)
    ensure_in_scope(actor, household.region_code if household else None, "household")
    assert household is not None
    stmt = _search_stmt(actor).where(Person.household_id == household_id).order_by(Person.id)
    # a list of members: masked like every list; each person's page shows the whole data
    return household, [_view(p, a, h, unmasked=False) for p, a, h in session.execute(stmt)]


def update_person(
    session: Session,
    actor: Actor,
    person_id: int,
    *,
    name: str | None = None,
    phone: str | None = None,
    relation: str | None = None,
) -> PersonView:
    """Change a person's contact details; every changed field is audited."""
    require(actor, Permission.REGISTRY_WRITE)
    person = _load(session, actor, person_id)
    changes: dict[str, list[Any]] = {}
    if name is not None:
        name = name.strip()
        if not name:
            raise InvalidInput("name", "姓名不能为空 (name is empty)")
        if name != person.name:
            changes["name"] = [person.name, name]
            person.name = name
    if phone is not None:
        normalized: str | None = None
        if phone.strip():
            check = check_phone(phone)
            if check.problem != Problem.OK:
                raise InvalidInput("phone", "不是有效的电话号码 (not a valid phone number)")
            normalized = check.normalized
        if normalized != person.phone:
            changes["phone"] = [person.phone, normalized]
            person.phone = normalized
    if relation is not None and relation.strip() != person.relation:
        changes["relation"] = [person.relation, relation.strip()]
        person.relation = relation.strip()
    if changes:
        person.updated_at = clock.now()
        record_audit(
            session, actor, "person.update", "person", person.id, person.region_code, changes
        )
        session.commit()
    return get_person(session, actor, person_id)


@dataclass(frozen=True)
class SuspectView:
    id: int
    reason: str
    status: str
    a: PersonView
    b: PersonView | None  # None when the other person is outside the jurisdiction


def list_duplicate_suspects(
    session: Session, actor: Actor, status: str = "open", limit: int = 100
) -> list[SuspectView]:
    require(actor, Permission.REGISTRY_READ)
    pa_, pb_ = aliased(Person), aliased(Person)
    stmt = (
        select(DuplicateSuspect, pa_, pb_)
        .join(pa_, pa_.id == DuplicateSuspect.person_a_id)
        .join(pb_, pb_.id == DuplicateSuspect.person_b_id)
        .where(DuplicateSuspect.status == status)
        .where(
            or_(
                pa_.region_code.startswith(actor.jurisdiction),
                pb_.region_code.startswith(actor.jurisdiction),
            )
        )
        .order_by(DuplicateSuspect.id)
        .limit(limit)
    )
    out = []
    for suspect, a, b in session.execute(stmt):
        first, second = (a, b) if a.region_code.startswith(actor.jurisdiction) else (b, a)
        other = second if second.region_code.startswith(actor.jurisdiction) else None
        out.append(
            SuspectView(
                suspect.id,
                suspect.reason,
                suspect.status,
                _view(first, None, None, unmasked=False),
                _view(other, None, None, unmasked=False) if other else None,
            )
        )
    return out


def resolve_duplicate_suspect(
    session: Session,
    actor: Actor,
    suspect_id: int,
    *,
    same_person: bool,
    keep_person_id: int | None = None,
    note: str = "",
) -> None:
    """A person decides: two different people, or one person (then the record
    not kept is marked merged into the kept one and leaves lists and counts)."""
    require(actor, Permission.REGISTRY_RESOLVE_DUPLICATES)
    suspect = session.get(DuplicateSuspect, suspect_id)
    if suspect is None:
        raise NotFound("duplicate suspect not found")
    a = _load(session, actor, suspect.person_a_id)
    b = _load(session, actor, suspect.person_b_id)
    if suspect.status != "open":
        raise Conflict("this suspect was already resolved")
    changes: dict[str, Any] = {"same_person": same_person, "note": note}
    if same_person:
        if keep_person_id not in (a.id, b.id):
            raise InvalidInput("keep_person_id", "choose which of the two records to keep")
        kept, merged = (a, b) if keep_person_id == a.id else (b, a)
        merged.merged_into_id = kept.id
        merged.updated_at = clock.now()
        changes["kept"], changes["merged"] = kept.id, merged.id
        record_audit(
            session,
            actor,
            "person.merge",
            "person",
            merged.id,
            merged.region_code,
            {"merged_into": [None, kept.id]},
        )
    suspect.status = "same" if same_person else "distinct"
    suspect.resolution_note = note
    suspect.resolved_at = clock.now()
    suspect.resolved_by = actor.user_id
    record_audit(
        session,
        actor,
        "duplicate.resolve",
        "duplicate_suspect",
        suspect.id,
        suspect.region_code,
        changes,
    )
    session.commit()


EXPORT_HEADER = list(header_row(FIELDS, "zh"))


def export_rows(
    session: Session, actor: Actor, text: str = "", *, region: str = "", unmasked: bool = False
) -> Any:
    """Rows for an export in the import format (so an export can be fixed and
    re-imported); masked unless ``unmasked`` and the role may see them. The
    export itself is audited: who took which list, masked or whole."""
    require(actor, Permission.REGISTRY_READ)
    if unmasked:
        require(actor, Permission.REGISTRY_READ_PERSONAL)
    record_audit(
        session,
        actor,
        "people.export",
        "registry",
        actor.jurisdiction or "all",
        actor.jurisdiction or None,  # filed where the exporter works, whatever was typed
        {"search": text, "region": region, "unmasked": unmasked},
    )
    session.commit()
    sex = {"M": "男", "F": "女"}
    for v in iter_persons(session, actor, text, region=region, unmasked=unmasked):
        yield [
            v.id_type,
            v.id_number,
            v.name,
            sex.get(v.sex or "", ""),
            v.birth_date or "",
            v.phone,
            v.region_code,
            v.building,
            v.unit,
            v.room,
            v.household_code,
            v.relation,
        ]
