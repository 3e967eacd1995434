"""Imports every capability's tables so that Alembic and tests see one
metadata."""

from fangkong.access.models import ApiToken, AuditEvent, User
from fangkong.db import Base
from fangkong.imports import ImportBatch, ImportReject
from fangkong.people.models import Address, DuplicateSuspect, Household, Person
from fangkong.regions.models import Region, RiskZone, RiskZoneArea
from fangkong.testing.models import (
    Exemption,
    FollowUpTask,
    LabResult,
    PositivePerson,
    Round,
    RoundArea,
    SamplingSite,
    TemporaryControl,
    Tube,
    TubeMember,
)
from fangkong.tracing.models import (
    Case,
    CrossRegionRequest,
    Exposure,
    Investigation,
    PendingMatch,
    Place,
    RequestItem,
    RiskPerson,
    RiskSource,
    SelfReport,
)

__all__ = [
    "Address",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Case",
    "CrossRegionRequest",
    "DuplicateSuspect",
    "Exemption",
    "Exposure",
    "FollowUpTask",
    "Household",
    "ImportBatch",
    "ImportReject",
    "Investigation",
    "LabResult",
    "PendingMatch",
    "Person",
    "Place",
    "PositivePerson",
    "Region",
    "RequestItem",
    "RiskPerson",
    "RiskSource",
    "RiskZone",
    "RiskZoneArea",
    "Round",
    "RoundArea",
    "SamplingSite",
    "SelfReport",
    "TemporaryControl",
    "Tube",
    "TubeMember",
    "User",
]
