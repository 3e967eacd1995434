"""The navigation bar, as a registry that capabilities add to.

A capability's ``views.py`` registers its entries when it is imported
(``web.app`` imports every views module listed in its ``ROUTERS``)::

    from fangkong.access.rules import Permission
    from fangkong.web.nav import NavItem, register

    register(NavItem("/rounds", "核酸检测", "Testing rounds", Permission.TESTING_READ, order=30))

An entry is shown to an actor whose role has ``permission`` (``None``: to
everyone logged in), ordered by ``order`` then label; registering the same
path twice keeps the first entry, so re-imports and several apps in one
process are harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

from fangkong.access.rules import Permission
from fangkong.access.service import Actor
from fangkong.web.i18n import Lang


@dataclass(frozen=True)
class NavItem:
    path: str
    label_zh: str
    label_en: str
    permission: Permission | None = None
    order: int = 100

    def label(self, lang: Lang) -> str:
        return self.label_en if lang == "en" else self.label_zh

    def is_current(self, path: str) -> bool:
        return path == self.path or path.startswith(self.path.rstrip("/") + "/")


NAV: list[NavItem] = []


def register(item: NavItem) -> None:
    if any(existing.path == item.path for existing in NAV):
        return
    NAV.append(item)


def visible_items(actor: Actor) -> list[NavItem]:
    items = [i for i in NAV if i.permission is None or actor.can(i.permission)]
    return sorted(items, key=lambda i: (i.order, i.path))
