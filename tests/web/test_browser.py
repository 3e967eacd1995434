"""A person at a browser: headless Debian Chromium driven by Playwright
against a real server (uvicorn in a thread) on a fresh SQLite database.

Skipped when no Chromium is installed (``apt-get install chromium
fonts-noto-cjk``), unless ``FANGKONG_REQUIRE_BROWSER=1`` (CI), which turns
the skip into a failure. Never downloads a browser (no ``playwright install``).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from fangkong.web.app import STATIC_DIR
from tests.factories import PASSWORD, person_row, registry_csv
from tests.web.conftest import ANCI, ANCI_COMMUNITY, GUANGYANG_COMMUNITY, Site

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VENDOR = STATIC_DIR / "vendor"


def chromium_executable() -> str | None:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).exists() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    if executable is None:
        if os.environ.get("FANGKONG_REQUIRE_BROWSER") == "1":
            pytest.fail("FANGKONG_REQUIRE_BROWSER=1 but Chromium is not installed")
        pytest.skip("Chromium not installed: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[str]:
    """The app on a free localhost port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(site.app, log_level="warning", lifespan="off")
    uv_server = uvicorn.Server(config)
    thread = threading.Thread(target=uv_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv_server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv_server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=server, locale="zh-CN")
    tab = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status == 404 else None,
    )
    yield tab
    context.close()
    assert not problems, f"browser console errors: {problems}"


def log_in(page: Page, username: str = "county") -> None:
    page.goto("/")
    expect(page).to_have_url("/login?next=/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("user-name")).to_have_text(username)


def test_a_county_commander_walks_the_registry(page: Page, site: Site, tmp_path: Path) -> None:
    log_in(page)
    if (VENDOR / "htmx.min.js").exists():
        assert page.evaluate("typeof window.htmx") == "object"

    # Region tree: breadcrumb, children with counts, the chart.
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="行政区划").click()
    expect(page).to_have_url(f"/regions/{ANCI}")
    expect(page.locator(".breadcrumb")).to_contain_text("廊坊市")
    expect(page.get_by_test_id("region-children")).to_contain_text(ANCI_COMMUNITY[:9])
    if (VENDOR / "echarts.min.js").exists():
        expect(page.locator(".chart canvas")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "regions.png"), full_page=True)

    # Registry search (an htmx swap of the page content).
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="人口底数").click()
    page.get_by_label("姓名、身份证号或电话").fill("王安次")
    page.get_by_role("button", name="查询").click()
    results = page.get_by_test_id("people-results")
    expect(results).to_contain_text("王安次")
    expect(results).not_to_contain_text("王小次")
    expect(page).to_have_url("/people?q=%E7%8E%8B%E5%AE%89%E6%AC%A1&region=")
    expect(results).to_contain_text("1310**********")

    # Person page (unmasked for a commander), then the household.
    results.get_by_role("link", name="王安次").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("王安次")
    expect(page.get_by_test_id("person-id-number")).not_to_contain_text("*")
    page.get_by_test_id("household-link").click()
    expect(page.get_by_test_id("household-members")).to_contain_text("王小次")

    # Import a small file with one bad row; see the summary; download the rejects.
    good = [
        person_row(ANCI_COMMUNITY, 70 + i, name=f"浏览器{i}", household="H-BR") for i in range(2)
    ]
    foreign = person_row(GUANGYANG_COMMUNITY, 80, name="外县浏览器")
    page.get_by_role("navigation", name="菜单").get_by_role("link", name="导入").click()
    page.get_by_label("文件").set_input_files(
        {"name": "registry.csv", "mimeType": "text/csv", "buffer": registry_csv([*good, foreign])}
    )
    page.get_by_role("button", name="上传并导入").click()
    expect(page.get_by_test_id("import-accepted")).to_have_text("2")
    expect(page.get_by_test_id("import-rejected")).to_have_text("1")
    expect(page.get_by_test_id("import-rejects")).to_contain_text("区划代码")
    with page.expect_download() as download_info:
        page.get_by_test_id("rejects-download").click()
    download = download_info.value
    report = Path(download.path()).read_bytes().decode("utf-8-sig")
    assert download.suggested_filename.startswith("rejects-")
    assert "外县浏览器" in report
    page.screenshot(path=str(tmp_path / "import.png"), full_page=True)


def test_the_layout_folds_its_menu_on_a_phone(
    browser: Browser, server: str, tmp_path: Path
) -> None:
    context = browser.new_context(base_url=server, viewport={"width": 390, "height": 844})
    page = context.new_page()
    log_in(page, "worker")
    nav = page.get_by_role("navigation", name="菜单")
    expect(nav).to_be_hidden()
    page.locator(".nav-toggle-label").click()
    expect(nav).to_be_visible()
    nav.get_by_role("link", name="人口底数").click()
    expect(page.get_by_test_id("people-results")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    context.close()


def test_switching_to_english_in_the_browser(page: Page) -> None:
    log_in(page)
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("navigation", name="Menu")).to_contain_text("Registry")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url("/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")


def test_the_api_documentation_page_renders_for_a_logged_in_user(page: Page) -> None:
    if not (VENDOR / "swagger-ui" / "swagger-ui-bundle.js").exists():
        pytest.skip("browser libraries not installed: web/frontend/install.sh")
    log_in(page)
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Fangkong API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()


def test_a_sampler_closes_a_tube_and_a_positive_result_shows_its_follow_up_on_the_board(
    browser: Browser, server: str, site: Site, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from fangkong.access.service import SYSTEM
    from fangkong.db import session_scope
    from fangkong.people.models import Person
    from fangkong.testing.rounds import AreaPolicy, create_round

    with session_scope() as session:
        round_id = create_round(session, SYSTEM, name="浏览器轮次", areas=[AreaPolicy(ANCI, 10)]).id
        rows = session.execute(
            select(Person.name, Person.id_number).where(Person.name.in_(["王安次", "王小次"]))
        )
        numbers = {str(name): str(number) for name, number in rows}

    # A sampler on a phone: open a tube, add two persons, close it.
    phone = browser.new_context(base_url=server, viewport={"width": 390, "height": 844})
    page = phone.new_page()
    log_in(page, "sampler")
    page.goto("/sampling")
    page.get_by_label("轮次").select_option(label="浏览器轮次")
    page.get_by_label("试管条码").fill("BR-0001")
    page.get_by_role("button", name="开管").click()
    expect(page.get_by_test_id("tube-barcode")).to_have_text("BR-0001")
    for name in ("王安次", "王小次"):
        page.get_by_label("证件号码").fill(numbers[name])
        page.get_by_role("button", name="加入此管").click()
        expect(page.get_by_test_id("tube-members")).to_contain_text(name)
    page.get_by_label("证件号码").fill(numbers["王安次"][:-4] + "9999")
    page.get_by_role("button", name="加入此管").click()
    expect(page.get_by_test_id("tube-error")).to_contain_text("找不到此证件号")
    page.get_by_test_id("close-tube").click()
    expect(page.get_by_test_id("tube-state")).to_contain_text("已封管")
    page.screenshot(path=str(tmp_path / "tube.png"), full_page=True)
    phone.close()

    # The lab uploads a result file that turns the pool positive.
    lab = browser.new_context(base_url=server)
    page = lab.new_page()
    log_in(page, "lab")
    page.goto(f"/rounds/{round_id}/files")
    results = (
        "tube,result,ct_orf1ab,ct_n,lab,tested_at\n"
        "BR-0001,阳性,27.5,29.0,市检测中心,2022-03-14 10:00\n"
    )
    page.locator("form[action$='/files/results'] input[type=file]").set_input_files(
        {"name": "results.csv", "mimeType": "text/csv", "buffer": results.encode()}
    )
    page.locator("form[action$='/files/results'] button").click()
    expect(page.get_by_test_id("file-summary-line")).to_contain_text(
        "accepted 1, unchanged 0, rejected 0, conflicts 0, positive tubes 1, newly controlled 2"
    )
    lab.close()

    # The county commander sees the pool, both members under control with a task.
    office = browser.new_context(base_url=server, locale="zh-CN")
    page = office.new_page()
    log_in(page, "county")
    page.goto(f"/rounds/{round_id}")
    expect(page.get_by_test_id("positive-tubes")).to_have_text("1")
    page.get_by_role("link", name="阳性混管").first.click()
    pool = page.get_by_test_id("pool-BR-0001")
    expect(pool).to_contain_text("王安次")
    expect(pool).to_contain_text("王小次")
    expect(pool.get_by_text("待复核")).to_have_count(2)
    page.screenshot(path=str(tmp_path / "positives.png"), full_page=True)
    office.close()


def test_an_epidemiologist_goes_from_a_positive_person_to_a_case_its_contacts_and_cluster(
    browser: Browser, server: str, site: Site, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from fangkong.access.service import SYSTEM
    from fangkong.db import session_scope
    from fangkong.people.models import Person
    from fangkong.testing.results import record_lab_result
    from fangkong.testing.rounds import AreaPolicy, create_round
    from fangkong.testing.sampling import add_to_tube, close_tube, open_tube

    with session_scope() as session:
        round_id = create_round(session, SYSTEM, name="流调轮次", areas=[AreaPolicy(ANCI, 1)]).id
        rows = session.execute(
            select(Person.name, Person.id_number).where(Person.name.in_(["王安次", "王小次"]))
        )
        numbers = {str(name): str(number) for name, number in rows}
        contact = session.scalars(select(Person.id_number).where(Person.name == "赵重复")).first()
        open_tube(session, SYSTEM, round_id=round_id, barcode="EPI-0001", pool_size=1)
        add_to_tube(session, SYSTEM, barcode="EPI-0001", id_number=numbers["王安次"])
        close_tube(session, SYSTEM, barcode="EPI-0001")
        record_lab_result(
            session,
            SYSTEM,
            barcode="EPI-0001",
            result="positive",
            tested_at=datetime.now(UTC),
            lab="市检测中心",
            ct_orf1ab=24.0,
            ct_n=26.0,
        )

    context = browser.new_context(base_url=server, locale="zh-CN")
    page = context.new_page()
    log_in(page, "epi")
    page.goto(f"/rounds/{round_id}/positives")
    row = page.get_by_test_id("positive-persons").get_by_role("row", name="王安次")
    row.get_by_label("分类").select_option("confirmed")
    row.get_by_role("button", name="立案").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("王安次")
    expect(page.get_by_test_id("case-controlled")).to_have_text("社会面")

    page.get_by_role("button", name="开始流调").click()
    yesterday = datetime.now(UTC).astimezone().strftime("%Y-%m-%dT08:00")
    for number, setting in ((numbers["王小次"], "household"), (contact, "work")):
        form = page.locator("form[action$='/contacts']")
        form.get_by_label("证件号码").fill(str(number))
        form.get_by_label("接触方式").select_option(setting)
        form.get_by_label("末次接触").fill(yesterday)
        form.get_by_role("button", name="添加接触者").click()
        expect(page.get_by_role("alert")).to_have_count(0)
    contacts = page.get_by_test_id("contacts")
    expect(contacts).to_contain_text("王小次")
    expect(contacts).to_contain_text("赵重复")
    expect(contacts.get_by_text("密切接触者")).to_have_count(2)

    page.get_by_role("link", name="聚集性疫情").click()
    expect(page.get_by_test_id("cluster-summary")).to_contain_text("病例数 1")
    expect(page.get_by_test_id("cluster-graph").locator("canvas")).to_have_count(1)
    expect(page.get_by_test_id("chain").locator("tbody tr")).to_have_count(2)
    page.screenshot(path=str(tmp_path / "cluster.png"), full_page=True)
    context.close()
