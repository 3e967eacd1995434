"""Fixtures for the tracing tests: the mass-testing fixtures (the clock
pinned on 14 March 2022, the small two-county registry imported once per
backend, rounds, tubes and lab-result helpers — see tests/testing/conftest.py),
plus the tracing cast: an epidemiologist of Anci and one of Guangyang.

Users are rows with one precomputed password hash (``make_actor`` of the
testing fixtures); these tests never log in.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fangkong.access.service import Actor
from tests.testing.conftest import *  # noqa: F403  (fixtures and registry names)
from tests.testing.conftest import ANCI, GUANGYANG


@pytest.fixture
def epidemiologist(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("epidemiologist", ANCI)


@pytest.fixture
def other_epidemiologist(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("epidemiologist", GUANGYANG)
