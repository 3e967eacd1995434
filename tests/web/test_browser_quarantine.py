"""A facility's staff at a browser: a small batch of close contacts placed
into rooms, and one of them released once their tests are complete (the
browser fixtures of tests/web/test_browser.py: headless Debian Chromium
against a real server on a fresh SQLite database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from fangkong.access.service import SYSTEM
from fangkong.db import session_scope
from fangkong.quarantine.facilities import add_rooms, create_facility, record_inspection
from fangkong.quarantine.rules import ZONE_CHECKLIST, RoomLayout
from fangkong.testing.results import record_lab_result
from fangkong.tracing.risk import note_risk_person
from tests.web.conftest import ANCI_COMMUNITY, Site
from tests.web.test_browser import browser, log_in, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

SITE_NAME = "安次区隔离酒店（测试）"


def _a_site_and_two_close_contacts(site: Site) -> None:
    """A receiving site of ten rooms, and two close contacts of Anci last
    exposed 16 days ago: their 14 days have run, so a single test on
    arrival completes their schedule."""
    exposed = datetime.now(UTC) - timedelta(days=16)
    with session_scope() as session:
        facility = create_facility(
            session, SYSTEM, name=SITE_NAME, kind="quarantine_site", region_code=ANCI_COMMUNITY
        )
        add_rooms(session, SYSTEM, facility.id, RoomLayout("A", 1, 2, 5))
        record_inspection(
            session,
            SYSTEM,
            facility.id,
            items=dict.fromkeys(ZONE_CHECKLIST, True),
            inspected_on=exposed.date(),
            inspector="区卫健局",
        )
        for name in ("王安次", "赵重复"):
            note_risk_person(
                session,
                person_id=site.persons[name],
                region_code=ANCI_COMMUNITY,
                category="close",
                channel="screening",
                source="入户排查（测试）",
                reported_at=exposed + timedelta(hours=2),
                last_exposure_at=exposed,
            )
        session.commit()


def test_a_commander_places_a_small_batch_and_releases_a_person_whose_tests_are_complete(
    browser: Browser,  # noqa: F811
    server: str,  # noqa: F811
    site: Site,
    tmp_path: Path,
) -> None:
    _a_site_and_two_close_contacts(site)
    context = browser.new_context(base_url=server, locale="zh-CN")
    page = context.new_page()
    log_in(page, "county")

    page.goto("/quarantine/placement")
    page.get_by_test_id("sites").get_by_label(SITE_NAME).check()
    candidates = page.get_by_test_id("candidates")
    candidates.get_by_label("王安次").check()
    candidates.get_by_label("赵重复").check()
    page.get_by_role("button", name="预览").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_role("button", name="确认安置").click()
    expect(page.get_by_test_id("placed")).to_contain_text("2")

    page.goto("/quarantine/releases")
    page.get_by_role("link", name="王安次").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("王安次")
    expect(page.get_by_test_id("blockers")).to_contain_text("未采样")
    page.get_by_label("试管条码").fill("QS-0001")
    page.get_by_role("button", name="登记采样").click()
    expect(page.get_by_test_id("schedule")).to_contain_text("QS-0001")

    with session_scope() as session:  # the laboratory's result arrives by its feed
        record_lab_result(
            session,
            SYSTEM,
            barcode="QS-0001",
            result="negative",
            tested_at=datetime.now(UTC),
            lab="市检测中心",
        )
    page.get_by_label("体温").fill("36.5")
    page.get_by_role("button", name="登记健康监测").click()
    expect(page.get_by_test_id("checks")).to_contain_text("36.5")
    expect(page.get_by_test_id("ready")).to_be_visible()

    page.get_by_role("button", name="解除隔离").click()
    expect(page.get_by_test_id("stay-ended")).to_contain_text("解除")
    page.get_by_test_id("certificate-link").click()
    expect(page.locator("body")).to_contain_text("王安次")
    page.screenshot(path=str(tmp_path / "certificate.png"), full_page=True)

    page.goto("/quarantine/releases")  # the other contact is still due, their test not taken
    expect(page.locator("body")).to_contain_text("赵重复")
    context.close()
