"""Imports every capability's tables so that Alembic and tests see one
metadata."""

from fangkong.access.models import ApiToken, AuditEvent, User
from fangkong.db import Base
from fangkong.people.models import (
    Address,
    DuplicateSuspect,
    Household,
    ImportBatch,
    ImportReject,
    Person,
)
from fangkong.regions.models import Region, RiskZone, RiskZoneArea

__all__ = [
    "Address",
    "ApiToken",
    "AuditEvent",
    "Base",
    "DuplicateSuspect",
    "Household",
    "ImportBatch",
    "ImportReject",
    "Person",
    "Region",
    "RiskZone",
    "RiskZoneArea",
    "User",
]
