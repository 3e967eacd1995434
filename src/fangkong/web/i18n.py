"""Interface language: Simplified Chinese by default, English on request.

The chosen language lives in the session (``lang``), set by the public
``GET /lang/{code}`` link in the top bar. Templates call ``t("key")``; the
catalogue below is the whole translation table (no gettext toolchain).
Capabilities add their own keys with :func:`add_messages` at import time.
A key missing from the catalogue is shown as the key itself, and
``tests/web/test_pages.py`` fails on any ``t("...")`` in a template whose
key is not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from starlette.requests import HTTPConnection

Lang = Literal["zh", "en"]
LANGUAGES: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"

# key -> (Simplified Chinese, English)
MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("防控指挥系统", "Fangkong command system"),
    "lang.switch": ("English", "中文"),
    # top bar and navigation
    "nav.home": ("首页", "Home"),
    "nav.menu": ("菜单", "Menu"),
    "auth.logout": ("退出", "Log out"),
    "auth.login": ("登录", "Log in"),
    "auth.username": ("用户名", "Username"),
    "auth.password": ("密码", "Password"),
    "auth.failed": ("用户名或密码错误", "Wrong username or password"),
    "auth.throttled": (
        "登录失败次数过多，请 15 分钟后再试",
        "Too many failed logins; try again in 15 minutes",
    ),
    "auth.expired": ("请重新登录", "Please log in again"),
    "user.jurisdiction": ("辖区", "Jurisdiction"),
    "user.whole_country": ("全国", "whole country"),
    # common words
    "common.search": ("查询", "Search"),
    "common.save": ("保存", "Save"),
    "common.saved": ("已保存", "Saved"),
    "common.previous": ("上一页", "Previous"),
    "common.next": ("下一页", "Next"),
    "common.page": (
        "第 {page} / {pages} 页，共 {total} 条",
        "page {page} of {pages}, {total} in all",
    ),
    "common.none": ("没有记录", "Nothing found"),
    "common.back_home": ("返回首页", "Back to the home page"),
    "common.filter": ("筛选", "Filter"),
    "common.reset": ("重置", "Reset"),
    "common.code": ("代码", "Code"),
    "common.name": ("名称", "Name"),
    "common.level": ("级别", "Level"),
    "common.count": ("数量", "Count"),
    # errors
    "error.title": ("出错了", "Something went wrong"),
    "error.400": ("请求有误", "Bad request"),
    "error.401": ("需要登录", "Login required"),
    "error.403": ("没有权限", "Not allowed"),
    "error.404": ("未找到，或不在您的辖区内", "Not found, or outside your jurisdiction"),
    "error.405": ("不支持的操作", "Method not allowed"),
    "error.409": ("状态冲突", "Conflict"),
    "error.422": ("输入有误", "Invalid input"),
    "error.500": ("系统错误", "Server error"),
    "error.csrf": (
        "页面已过期或请求来源不明，请刷新页面后重试",
        "The page has expired or the request did not come from it; reload the page and retry",
    ),
    # home
    "home.title": ("工作台", "Overview"),
    "home.persons": ("辖区登记人口", "Registered persons in the jurisdiction"),
    "home.zones": ("生效中的风险区", "Active risk zones"),
    "home.no_registry": ("您的角色不能查看人口底数", "Your role cannot view the registry"),
    # regions
    "regions.title": ("行政区划", "Regions"),
    "regions.children": ("下级区划", "Subdivisions"),
    "regions.population": ("登记人口", "Registered persons"),
    "regions.in_registry": ("在人口底数中查看", "View in the registry"),
    "regions.chart": ("下级区划登记人口", "Registered persons by subdivision"),
    "regions.search": ("名称或代码", "Name or code"),
    "regions.level.province": ("省", "province"),
    "regions.level.city": ("市", "city"),
    "regions.level.county": ("县区", "county"),
    "regions.level.township": ("乡镇街道", "township"),
    "regions.level.village": ("村居社区", "village / community"),
    "regions.zone.sealed": ("封控区", "sealed zone"),
    "regions.zone.controlled": ("管控区", "controlled zone"),
    "regions.zone.precaution": ("防范区", "precaution zone"),
    # registry
    "people.title": ("人口底数", "Registry"),
    "people.query": ("姓名、身份证号或电话", "Name, identity number or phone"),
    "people.region": ("区划代码", "Region code"),
    "people.export_csv": ("导出 CSV", "Export CSV"),
    "people.export_xlsx": ("导出 Excel", "Export Excel"),
    "people.id_number": ("证件号码", "Identity number"),
    "people.id_type": ("证件类型", "Document type"),
    "people.name": ("姓名", "Name"),
    "people.sex": ("性别", "Sex"),
    "people.sex.M": ("男", "male"),
    "people.sex.F": ("女", "female"),
    "people.birth_date": ("出生日期", "Date of birth"),
    "people.phone": ("联系电话", "Phone"),
    "people.region_code": ("所属区划", "Region"),
    "people.address": ("住址", "Address"),
    "people.building": ("楼栋", "Building"),
    "people.unit": ("单元", "Unit"),
    "people.room": ("房号", "Room"),
    "people.household": ("户", "Household"),
    "people.relation": ("与户主关系", "Relation to head"),
    "people.edit": ("修改联系信息", "Edit contact details"),
    "people.person": ("人员信息", "Person"),
    "people.members": ("户成员", "Household members"),
    "people.household_code": ("户编号", "Household number"),
    "people.masked_note": (
        "列表中的证件号码和电话已脱敏；完整信息只在个人页面向有权限的角色显示",
        "Identity numbers and phones are masked in lists; the person's page shows them "
        "whole to roles that need them",
    ),
    # import
    "import.title": ("导入", "Import"),
    "import.help": (
        "上传人口底数文件（CSV 或 Excel），必填列：身份证号、姓名、区划代码。"
        "有效的行会被导入，有问题的行列入错误报告，修改后可重新导入；重复导入同一文件不会改变数据。",
        "Upload a registry file (CSV or Excel); required columns: identity number, name, "
        "region code. Valid rows are imported, invalid rows go into a report you can fix "
        "and import again; importing the same file twice changes nothing.",
    ),
    "import.file": ("文件", "File"),
    "import.submit": ("上传并导入", "Upload and import"),
    "import.summary": ("导入结果", "Result"),
    "import.accepted": ("导入", "Accepted"),
    "import.unchanged": ("未变化", "Unchanged"),
    "import.rejected": ("拒绝", "Rejected"),
    "import.notices": ("提示", "Notices"),
    "import.risk_moved": (
        "随人员迁至新社区的风险人员记录：{n}",
        "Risk records that followed their persons to a new community: {n}",
    ),
    "import.rejects": ("被拒绝的行（前 50 行）", "Rejected rows (first 50)"),
    "import.row": ("行号", "Row"),
    "import.column": ("列", "Column"),
    "import.value": ("值", "Value"),
    "import.reason": ("原因", "Reason"),
    "import.download_rejects": ("下载错误报告 (CSV)", "Download the rejects report (CSV)"),
    "import.failed": ("文件无法读取", "The file cannot be read"),
    "import.no_file": ("请选择要上传的文件", "Choose a file to upload"),
    "import.not_allowed": ("您的角色不能导入人口底数", "Your role cannot import the registry"),
    # duplicates
    "duplicates.title": ("疑似重复", "Duplicates"),
    "duplicates.reason": ("原因", "Reason"),
    "duplicates.different": ("不是同一人", "Different persons"),
    "duplicates.keep": ("同一人，保留此记录", "Same person, keep this record"),
    "duplicates.outside": (
        "另一条记录不在您的辖区，请联系上级处理",
        "The other record is outside your jurisdiction; ask your supervisor",
    ),
    "duplicates.resolved": ("已处理", "Resolved"),
    # audit
    "audit.title": ("操作日志", "Audit log"),
    "audit.at": ("时间", "Time"),
    "audit.actor": ("操作人", "Actor"),
    "audit.action": ("操作", "Action"),
    "audit.object": ("对象", "Object"),
    "audit.object_type": ("对象类型", "Object type"),
    "audit.object_id": ("对象编号", "Object id"),
    "audit.changes": ("变更", "Changes"),
}


def add_messages(messages: dict[str, tuple[str, str]]) -> None:
    """Let a capability add its keys; an existing key keeps its text."""
    for key, pair in messages.items():
        MESSAGES.setdefault(key, pair)


def normalize_lang(value: object) -> Lang:
    return "en" if value == "en" else DEFAULT_LANG


def lang_of(connection: HTTPConnection) -> Lang:
    """The language of a request: the session's choice, else Chinese."""
    session = connection.scope.get("session")
    return normalize_lang(session.get("lang") if session is not None else None)


def translate(lang: Lang, key: str, **values: object) -> str:
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**values) if values else text


def translator(lang: Lang) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    return t
