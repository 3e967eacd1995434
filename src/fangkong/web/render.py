"""One ``render()`` for every page (DESIGN.md habit 4).

A page handler builds a context dict and calls ``render(request, name,
context)``: an htmx request (``HX-Request`` without ``HX-Boosted``) gets only
the page's ``content`` block, anything else the full page in the layout.
Page templates start with ``{% extends layout %}``.

Templates are looked up in ``web/templates`` and then in every
``fangkong/<capability>/templates`` folder; a capability names its
templates ``<capability>/<page>.html``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from starlette.responses import HTMLResponse, Response

from fangkong.access.rules import ROLE_LABELS, Role
from fangkong.access.service import Actor
from fangkong.config import get_settings
from fangkong.errors import FangkongError
from fangkong.web import csrf
from fangkong.web.i18n import Lang, lang_of, translator
from fangkong.web.nav import visible_items

PACKAGE_DIR = Path(__file__).resolve().parent.parent
WEB_TEMPLATES = Path(__file__).resolve().parent / "templates"


def template_dirs() -> list[Path]:
    return [WEB_TEMPLATES, *sorted(PACKAGE_DIR.glob("*/templates"))]


environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader([str(d) for d in template_dirs()]),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def local_time(moment: datetime | None) -> str:
    """A stored (UTC) time as the command centre reads it."""
    if moment is None:
        return ""
    return moment.astimezone(get_settings().zone).strftime("%Y-%m-%d %H:%M")


environment.globals["local_time"] = local_time


def is_htmx(request: Request) -> bool:
    """Whether to answer with the content block only. Boosted links and
    history restores (the layout does not cache pages in localStorage, so
    that personal data never lands there) need the whole page."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def role_label(role: str, lang: Lang) -> str:
    try:
        zh, en = ROLE_LABELS[Role(role)]
    except ValueError:
        return role
    return en if lang == "en" else zh


def jurisdiction_label(request: Request, actor: Actor, lang: Lang) -> str:
    """The name of the actor's jurisdiction region, for the top bar."""
    if not actor.jurisdiction:
        return translator(lang)("user.whole_country")
    db = getattr(request.state, "db", None)
    if db is not None:
        from fangkong.regions.service import roots

        try:
            found = roots(db, actor)
        except FangkongError:
            found = []
        if found:
            return f"{found[0].name} ({actor.jurisdiction})"
    return actor.jurisdiction


def base_context(request: Request) -> dict[str, Any]:
    lang = lang_of(request)
    actor: Actor | None = getattr(request.state, "actor", None)
    context: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "t": translator(lang),
        "actor": actor,
        "nav": visible_items(actor) if actor else [],
        "path": request.url.path,
        "csrf_token": csrf.token(request),
        "htmx": is_htmx(request),
        "layout": "_fragment.html" if is_htmx(request) else "_layout.html",
        "title": "",
        "zone": get_settings().zone,
    }
    if actor is not None:
        context["role_label"] = role_label(actor.role, lang)
        context["jurisdiction_label"] = jurisdiction_label(request, actor, lang)
    return context


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    full = base_context(request)
    full.update(context or {})
    html = environment.get_template(name).render(full)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers["Vary"] = "HX-Request, Cookie"
    return response
