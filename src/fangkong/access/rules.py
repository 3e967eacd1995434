"""Roles, what each may do, and the jurisdiction rule. Pure: no I/O.

A jurisdiction is a region-code prefix: ``"13"`` (Hebei), ``"1310"``
(Langfang), ``"131002"`` (Anci district), ``"131002001"`` (a township) or a
12-digit community code. A user sees and changes a row exactly when the
row's ``region_code`` starts with the user's jurisdiction.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    COMMANDER = "commander"
    COMMUNITY_WORKER = "community_worker"
    SAMPLER = "sampler"
    LAB = "lab"
    EPIDEMIOLOGIST = "epidemiologist"
    FACILITY_MANAGER = "facility_manager"
    SUPPLY_OFFICE = "supply_office"
    CHECKPOINT_OFFICER = "checkpoint_officer"


class Permission(StrEnum):
    REGISTRY_READ = "registry.read"
    REGISTRY_READ_PERSONAL = "registry.read_personal"  # unmasked identity number and phone
    REGISTRY_WRITE = "registry.write"
    REGISTRY_IMPORT = "registry.import"
    REGISTRY_RESOLVE_DUPLICATES = "registry.resolve_duplicates"
    ZONES_MANAGE = "zones.manage"
    AUDIT_READ = "audit.read"
    USERS_MANAGE = "users.manage"
    TESTING_READ = "testing.read"  # rounds, coverage, boards, missing lists
    TESTING_MANAGE = "testing.manage"  # rounds, sites
    TESTING_SAMPLE = "testing.sample"  # tubes and their members, sampling files
    TESTING_RESULTS = "testing.results"  # lab results
    TESTING_EXEMPT = "testing.exempt"  # exemptions from a round
    TESTING_RESOLVE = "testing.resolve"  # settle a tube's conflicting results
    TRACING_READ = "tracing.read"  # cases, risk persons, lists, the graph
    TRACING_CASES = "tracing.cases"  # cases, investigations, places, named contacts
    TRACING_IMPORT = "tracing.import"  # risk-person lists from the channels
    TRACING_MANAGE = "tracing.manage"  # a risk person's status and measure, bulk actions
    TRACING_REQUESTS = "tracing.requests"  # send, accept and answer cross-region requests
    QUARANTINE_READ = "quarantine.read"  # facilities, rooms, stays, alerts, capacity
    QUARANTINE_FACILITIES = "quarantine.facilities"  # facilities, rooms, inspections, staff
    QUARANTINE_STAYS = "quarantine.stays"  # place, transfer, test, release, admit, discharge
    QUARANTINE_HOME = "quarantine.home"  # home quarantine orders and daily check-ins


ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.ADMIN: ("系统管理员", "administrator"),
    Role.COMMANDER: ("指挥部", "commander"),
    Role.COMMUNITY_WORKER: ("社区工作者", "community worker"),
    Role.SAMPLER: ("采样人员", "sampling staff"),
    Role.LAB: ("检测机构", "laboratory"),
    Role.EPIDEMIOLOGIST: ("流调人员", "epidemiologist"),
    Role.FACILITY_MANAGER: ("隔离点管理员", "facility manager"),
    Role.SUPPLY_OFFICE: ("保供专班", "supply office"),
    Role.CHECKPOINT_OFFICER: ("卡口查验人员", "checkpoint officer"),
}

_P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.COMMANDER: frozenset(
        {
            _P.REGISTRY_READ,
            _P.REGISTRY_READ_PERSONAL,
            _P.REGISTRY_WRITE,
            _P.REGISTRY_IMPORT,
            _P.REGISTRY_RESOLVE_DUPLICATES,
            _P.ZONES_MANAGE,
            _P.AUDIT_READ,
            _P.TESTING_READ,
            _P.TESTING_MANAGE,
            _P.TESTING_SAMPLE,
            _P.TESTING_EXEMPT,
            _P.TESTING_RESOLVE,
            _P.TRACING_READ,
            _P.TRACING_CASES,
            _P.TRACING_IMPORT,
            _P.TRACING_MANAGE,
            _P.TRACING_REQUESTS,
            _P.QUARANTINE_READ,
            _P.QUARANTINE_FACILITIES,
            _P.QUARANTINE_STAYS,
            _P.QUARANTINE_HOME,
        }
    ),
    Role.COMMUNITY_WORKER: frozenset(
        {
            _P.REGISTRY_READ,
            _P.REGISTRY_READ_PERSONAL,
            _P.REGISTRY_WRITE,
            _P.REGISTRY_IMPORT,
            _P.REGISTRY_RESOLVE_DUPLICATES,
            _P.TESTING_READ,
            _P.TESTING_SAMPLE,
            _P.TESTING_EXEMPT,
            _P.TRACING_READ,
            _P.TRACING_IMPORT,
            _P.TRACING_MANAGE,
            _P.QUARANTINE_READ,
            _P.QUARANTINE_HOME,
        }
    ),
    Role.SAMPLER: frozenset({_P.REGISTRY_READ, _P.TESTING_READ, _P.TESTING_SAMPLE}),
    Role.LAB: frozenset({_P.TESTING_READ, _P.TESTING_RESULTS, _P.TESTING_RESOLVE}),
    Role.EPIDEMIOLOGIST: frozenset(
        {
            _P.REGISTRY_READ,
            _P.REGISTRY_READ_PERSONAL,
            _P.TESTING_READ,
            _P.TRACING_READ,
            _P.TRACING_CASES,
            _P.TRACING_IMPORT,
            _P.TRACING_MANAGE,
            _P.TRACING_REQUESTS,
            _P.QUARANTINE_READ,
        }
    ),
    Role.FACILITY_MANAGER: frozenset(
        {_P.REGISTRY_READ, _P.TRACING_READ, _P.QUARANTINE_READ, _P.QUARANTINE_STAYS}
    ),
    Role.SUPPLY_OFFICE: frozenset(),
    Role.CHECKPOINT_OFFICER: frozenset(),
}


def has_permission(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


def in_jurisdiction(jurisdiction: str, region_code: str | None) -> bool:
    return region_code is not None and region_code.startswith(jurisdiction)


def covers(outer: str, inner: str) -> bool:
    """Whether a user with jurisdiction ``outer`` may act for ``inner``."""
    return inner.startswith(outer)


def is_valid_jurisdiction(prefix: str) -> bool:
    return prefix.isdigit() and len(prefix) in (2, 4, 6, 9, 12)
