"""The exception tree of Fangkong; one handler in ``web.app`` maps it to HTTP.

::

    FangkongError                       500  (never raised directly)
     +-- InvalidInput(field, reason)    422  bad value; names the field and why
     +-- NotFound                       404  missing OR outside the caller's jurisdiction
     +-- PermissionDenied               403  role may not do this (inside its jurisdiction)
     +-- NotAuthenticated               401  no valid session or token
     +-- Conflict                       409  state forbids the change (duplicate, stale)
     +-- UnreadableFile                 --   a whole import file cannot be read (CLI exit 2)

Messages are meant for the person at the screen: they say what is wrong and,
where it helps, what to do.
"""

from __future__ import annotations


class FangkongError(Exception):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(FangkongError):
    status_code = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(FangkongError):
    """Also raised for objects outside the caller's jurisdiction, so that
    their existence is not revealed."""

    status_code = 404


class PermissionDenied(FangkongError):
    status_code = 403


class NotAuthenticated(FangkongError):
    status_code = 401


class Conflict(FangkongError):
    status_code = 409


class UnreadableFile(FangkongError):
    status_code = 422
