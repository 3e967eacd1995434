"""The matching rules, pure (no I/O): cleaning and checking incoming
person records, and deciding who a record is from the candidates the
registry holds — one record at a time (:func:`decide`) and for a whole file
at once (:func:`decide_bulk`, the same rules over arrays; a property test
holds them equal). :mod:`fangkong.tracing.matching` reads the candidates
and writes what is decided; its docstring states the rules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fangkong.people.identity import MESSAGES, IdType, Problem, check_identities_bulk
from fangkong.people.phones import check_phones_bulk
from fangkong.people.rules import ID_TYPE_ALIASES
from fangkong.people.strings import ASCII_SPACE, clean, clean_bulk, full_match

PHONE_ID_TYPE = "phone"
MAX_NAME_CHARS = 50
MAX_ADDRESS_CHARS = 200
PENDING_REASONS: dict[str, tuple[str, str]] = {
    "phone_name_differs": (
        "该手机号登记的人姓名不同，请核实是否同一人",
        "the person registered with this phone has another name",
    ),
    "phone_shared": (
        "该手机号登记了多人，姓名无法确定是哪一位",
        "several persons share this phone and the name does not tell which",
    ),
    "name_address_shared": (
        "同一地址有多名同名人员",
        "several persons of this name live at this address",
    ),
    "no_region": (
        "查无此人，且未给出所在社区，无法建档",
        "nobody matches and no community is given to register the person in",
    ),
}


def text_keys(values: pa.Array) -> pa.Array:
    """Comparison keys of names and addresses: NFKC, no spaces, ASCII lower."""
    folded = pc.utf8_normalize(pc.fill_null(values, ""), form="NFKC")
    return pc.ascii_lower(pc.replace_substring_regex(folded, r"[\s\p{Z}]+", ""))


@dataclass(frozen=True)
class Fault:
    """The rows of one column refused for one reason."""

    field: str
    mask: np.ndarray
    words: tuple[str, str]


@dataclass
class CheckedPeople:
    """Person columns checked and normalized (rows with a fault included);
    columns: id_type, id_number ('' none), sex, birth_date, phone ('' none),
    name, name_key, address_key."""

    table: pa.Table
    faults: list[Fault] = field(default_factory=list)


def _id_types(given: pa.Array | None, numbers: pa.Array) -> tuple[pa.Array, Fault | None]:
    """Each row's document type: the ``id_type`` cell (the registry's words),
    else a resident identity number when the number is digits only (an X
    last), else ``other``."""
    shaped = full_match(pc.ascii_upper(clean_bulk(numbers, ASCII_SPACE, clean)), r"[0-9]+X?")
    auto = pa.array(np.where(shaped, IdType.RESIDENT_ID.value, IdType.OTHER.value), pa.string())
    if given is None:
        return auto, None
    keys = pc.utf8_lower(given)
    aliases = pa.array(list(ID_TYPE_ALIASES), pa.string())
    found = pc.index_in(keys, value_set=aliases)
    values = pa.array([t.value for t in ID_TYPE_ALIASES.values()], pa.string())
    named = pc.take(values, pc.fill_null(found, 0))
    empty = pc.equal(keys, "")
    unknown = np.asarray(pc.and_(pc.is_null(found), pc.invert(empty)).to_numpy(False), dtype=bool)
    words = (
        "证件类型不认识，可填：居民身份证、护照、港澳居民来往内地通行证、台湾居民来往大陆通行证、"
        "外国人永久居留身份证、其他",
        "unknown document type",
    )
    return pc.if_else(pc.or_(empty, pc.is_null(found)), auto, named), Fault(
        "id_type", unknown, words
    )


def check_people(
    id_numbers: pa.Array,
    phones: pa.Array,
    names: pa.Array,
    addresses: pa.Array,
    today: date,
    id_types: pa.Array | None = None,
) -> CheckedPeople:
    """Check and normalize trimmed cells, vectorized; every fault names its
    column and says why in Chinese and English (the identity and phone words
    of the registry)."""
    types, type_fault = _id_types(id_types, id_numbers)
    faults = [type_fault] if type_fault else []
    identity = check_identities_bulk(types, id_numbers, today)
    for code in np.unique(identity.problem):
        if code not in (Problem.OK, Problem.EMPTY):
            faults.append(Fault("id_number", identity.problem == code, MESSAGES[Problem(code)]))
    phone = check_phones_bulk(phones)
    faults.append(Fault("phone", phone.problem != Problem.OK, MESSAGES[Problem.BAD_PHONE]))
    id_number = pc.fill_null(identity.normalized, "")
    e164 = pc.fill_null(phone.normalized, "")
    neither = np.asarray(
        pc.and_(pc.equal(id_number, ""), pc.equal(e164, "")).to_numpy(False), dtype=bool
    )
    no_input = np.asarray(
        pc.and_(pc.equal(id_numbers, ""), pc.equal(phones, "")).to_numpy(False), dtype=bool
    )
    faults.append(
        Fault(
            "id_number",
            neither & no_input,
            ("证件号码和手机号不能都为空", "an identity number or a phone is needed"),
        )
    )
    faults.append(_too_long("name", names, MAX_NAME_CHARS))
    faults.append(_too_long("address", addresses, MAX_ADDRESS_CHARS))
    resident = pc.equal(types, IdType.RESIDENT_ID.value)
    sex = pc.if_else(resident, pa.array(identity.sex, pa.string()), "")
    table = pa.table(
        {
            "id_type": pc.if_else(pc.equal(id_number, ""), PHONE_ID_TYPE, types),
            "id_number": id_number,
            "sex": sex,
            "birth_date": pa.array(identity.birth_date, pa.date32()),
            "phone": e164,
            "name": names,
            "name_key": text_keys(names),
            "address_key": text_keys(addresses),
        }
    )
    return CheckedPeople(table, faults)


def _too_long(column: str, values: pa.Array, limit: int) -> Fault:
    mask = np.asarray(pc.greater(pc.utf8_length(values), limit).to_numpy(False), dtype=bool)
    return Fault(column, mask, (f"内容超过 {limit} 个字", f"longer than {limit} characters"))


# --- the rules ----------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """One checked record; ``region_code`` is the community a new person
    would be registered in ('' when none is known)."""

    id_number: str
    phone: str
    name_key: str
    address_key: str
    region_code: str
    name: str = ""  # as typed (trimmed): rule 3 looks up this and the key


@dataclass(frozen=True)
class Candidate:
    person_id: int
    documented: bool  # registered under a document, not a phone alone
    name_key: str
    region_code: str = ""
    address_key: str = ""  # building, unit and room as one key


@dataclass(frozen=True)
class Decision:
    person_id: int | None = None
    pending: str = ""
    candidates: tuple[int, ...] = ()

    @property
    def create(self) -> bool:
        return self.person_id is None and not self.pending


def names_agree(given: str, registered: str) -> bool:
    """Rule 2's test for the only person on a phone: same name, or a name unknown."""
    return not given or not registered or given == registered


def address_agrees(given: str, registered: str) -> bool:
    """The registered address is the record's, or its end not cut inside a
    number ('幸福里3号楼1单元101' ends with '3号楼1单元101'; '1101' does not
    end with the house '101')."""
    if not registered or not given.endswith(registered):
        return False
    before = given[: len(given) - len(registered)]
    return not before or not before[-1].isdigit()


def decide(
    record: Incoming,
    by_id: int | None,
    by_phone: Sequence[Candidate],
    by_name: Sequence[Candidate],
) -> Decision:
    """The rules (module docstring) for one record: ``by_id`` the person
    holding its identity number, ``by_phone`` the persons with its phone,
    ``by_name`` the persons with its name in its community."""
    if by_id is not None:
        return Decision(by_id)
    documented = bool(record.id_number)
    phone = [c for c in by_phone if not (documented and c.documented)]
    if documented:
        agreeing = [c.person_id for c in phone if names_agree(record.name_key, c.name_key)]
        if len(agreeing) == 1:
            return Decision(agreeing[0])
    elif len(phone) == 1:
        if names_agree(record.name_key, phone[0].name_key):
            return Decision(phone[0].person_id)
        return Decision(pending="phone_name_differs", candidates=(phone[0].person_id,))
    elif phone:
        same = [c.person_id for c in phone if record.name_key and c.name_key == record.name_key]
        if len(same) == 1:
            return Decision(same[0])
        return Decision(
            pending="phone_shared", candidates=tuple(sorted(c.person_id for c in phone))
        )
    at_address = sorted(
        c.person_id
        for c in by_name
        if record.name_key
        and record.region_code
        and c.region_code == record.region_code
        and c.name_key == record.name_key
        and not (documented and c.documented)
        and address_agrees(record.address_key, c.address_key)
    )
    if len(at_address) == 1:
        return Decision(at_address[0])
    if at_address and not documented:
        return Decision(pending="name_address_shared", candidates=tuple(at_address))
    return Decision() if record.region_code else Decision(pending="no_region")


@dataclass
class Pairs:
    """Record-candidate pairs from a lookup: the record's index, the person,
    whether they hold a document, their keys, and the comparisons rules 2
    and 3 make (the same functions as :func:`decide`)."""

    record: np.ndarray
    person: np.ndarray
    documented: np.ndarray
    same_name: np.ndarray  # the record has a name and it is the person's
    names_agree: np.ndarray  # the same, or either name unknown
    address_agrees: np.ndarray
    keys: pa.Table  # name_key, region_code, address_key of the person

    def keep(self, mask: np.ndarray) -> Pairs:
        return Pairs(
            self.record[mask],
            self.person[mask],
            self.documented[mask],
            self.same_name[mask],
            self.names_agree[mask],
            self.address_agrees[mask],
            self.keys.filter(pa.array(mask, pa.bool_())),
        )


@dataclass
class BulkDecision:
    """Per record: the person (0: none; below 0: a person the file creates),
    the pending reason ('' when decided) and a pending record's candidates."""

    person: np.ndarray
    pending: np.ndarray
    candidates: dict[int, tuple[int, ...]]

    def create(self) -> np.ndarray:
        return np.asarray((self.person == 0) & (self.pending == ""), dtype=bool)


def _pick(n: int, pairs: Pairs, flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record: how many pairs carry ``flag``, and the (largest) person among them."""
    count = np.bincount(pairs.record[flag], minlength=n)
    person = np.zeros(n, np.int64)
    np.maximum.at(person, pairs.record[flag], pairs.person[flag])
    return count, person


def decide_bulk(
    documented: np.ndarray,
    has_region: np.ndarray,
    by_id: np.ndarray,
    phone: Pairs,
    name: Pairs,
) -> BulkDecision:
    """:func:`decide` for every record at once. ``by_id``: the person holding
    each record's identity number (0: none); ``name``: rule 3's pairs, only
    for records with a name, an address and a community."""
    n = len(by_id)
    person = by_id.copy()
    pending = np.full(n, "", dtype=object)
    shown: dict[int, tuple[int, ...]] = {}
    phone = phone.keep((person[phone.record] == 0) & ~(documented[phone.record] & phone.documented))
    count, anyone = _pick(n, phone, np.ones(len(phone.record), bool))
    agree_count, agreeing = _pick(n, phone, phone.names_agree)
    same_count, same = _pick(n, phone, phone.same_name)
    one = ~documented & (count == 1)
    many = ~documented & (count > 1)
    person = np.where(documented & (agree_count == 1), agreeing, person)
    person = np.where(one & (agree_count == 1), anyone, person)
    person = np.where(many & (same_count == 1), same, person)
    pending[one & (agree_count == 0)] = "phone_name_differs"
    pending[many & (same_count != 1)] = "phone_shared"
    shown.update(_candidates(phone, pending != ""))

    open_ = (person == 0) & (pending == "")
    name = name.keep(open_[name.record] & ~(documented[name.record] & name.documented))
    name = name.keep(name.address_agrees)
    at_count, at = _pick(n, name, np.ones(len(name.record), bool))
    person = np.where(open_ & (at_count == 1), at, person)
    shared = open_ & ~documented & (at_count > 1)
    pending[shared] = "name_address_shared"
    shown.update(_candidates(name, shared))
    pending[(person == 0) & (pending == "") & ~has_region] = "no_region"
    return BulkDecision(person, pending, shown)


def _candidates(pairs: Pairs, records: np.ndarray) -> dict[int, tuple[int, ...]]:
    kept = pairs.keep(records[pairs.record])
    found: dict[int, list[int]] = defaultdict(list)
    for record, person in zip(kept.record.tolist(), kept.person.tolist(), strict=True):
        found[record].append(person)
    return {record: tuple(sorted(set(people))) for record, people in found.items()}


# --- one record ----------------------------------------------------------------------
