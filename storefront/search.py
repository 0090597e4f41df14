"""The search page: products and notes through the same service and the same parameters
as `/api/v1/search` (`parse_query`), as a GET form that works without JavaScript;
static/search.js adds suggest-as-you-type and applies filters as they change.

Parameters of the page's own, translated before `parse_query` sees them: `tab`,
`price_min` / `price_max` in major units (the API's are minor units), and `within`
(notes: `7d` / `30d`, as `created_at_min`). Empty form fields are ignored; pages hold
20 results with facets and highlights, whatever the link says.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.exceptions import NoRouteMatchFoundException
from markupsafe import Markup
from sqlalchemy import select

from core import forms
from core.catalog.models import Brand, Category
from core.errors import ValidationFailed
from core.search.api import filter_values, parse_query
from core.search.base import MAX_PAGE_DEPTH, SearchResult
from core.web import GUEST_CACHE, render

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

PER_PAGE = 20
FACET_VALUES = 12  # per facet; chosen values are always shown
FIXED = ("per_page", "facets", "highlight")  # API parameters the page sets itself
WITHIN_DAYS = {"7d": 7, "30d": 30}
_ZERO = re.compile(r"0+(?:\.0*)?")


@dataclass(frozen=True)
class Tab:
    index: str
    label: str
    placeholder: str
    facets: tuple[tuple[str, str], ...]  # (field, label): shown as checkboxes


TABS = {
    "products": Tab("products", "Products", "Search products", (("brand", "Brand"), ("category", "Category"))),
    "notes": Tab("notes", "Notes", "Search notes", (("type", "Note type"), ("topics", "Topics"))),
    "creators": Tab("creators", "Creators", "Search creators", (("tier", "Tier"), ("categories", "Categories"), ("region", "Region"))),
}
SORT_LABELS = {
    "relevance": "Best match", "newest": "Newest", "price_asc": "Price: low to high", "price_desc": "Price: high to low",
    "likes": "Most liked", "collects": "Most collected", "comments": "Most commented",
    "followers": "Most followers", "engagement": "Highest engagement", "rate_asc": "Lowest rate",
}
NOTE_TYPES = {"image": "Image", "video": "Video"}
WITHIN = (("", "Any time"), ("7d", "Last 7 days"), ("30d", "Last 30 days"))


def _values(params: dict[str, list[str]], name: str) -> list[str]:
    return filter_values(params.get(name, []))


def _minor(raw: str, currency: str) -> int:
    return 0 if _ZERO.fullmatch(raw.strip()) else forms.amount_minor(raw, currency)


def api_params(tab: Tab, params: dict[str, list[str]], currency: str) -> dict[str, list[str]]:
    """The page's parameters as the API's: prices to minor units, `within` to a time."""
    out = {k: v for k, v in params.items() if k not in ("tab", "within")}
    if tab.index == "products":
        for name in ("price_min", "price_max"):
            if name in out:
                out[name] = [str(_minor(out[name][-1], currency))]
    if tab.index == "notes" and "within" in params:
        days = WITHIN_DAYS.get(params["within"][-1])
        if days is None:
            raise ValidationFailed("choose a time range from the list")
        out["created_at_min"] = [str(int(time.time()) - days * 86400)]
    out["per_page"] = [str(PER_PAGE)]
    return out


async def _names(session: AsyncSession, model: type[Brand | Category], slugs: set[str]) -> dict[str, str]:
    if not slugs:
        return {}
    return dict((await session.execute(select(model.slug, model.name).where(model.slug.in_(slugs)))).tuples().all())


async def facet_groups(session: AsyncSession, tab: Tab, params: dict[str, list[str]], result: SearchResult) -> list[dict[str, Any]]:
    """Each facet's most frequent values with counts, plus the values already chosen. The
    counts of a field with chosen values are taken without them (disjunctive facets), so its
    other values stay listed and ticking one more shows both (`brand=a&brand=b`: a OR b)."""
    groups = []
    for field, label in tab.facets:
        counts = result.facets.get(field, {})
        chosen = _values(params, field)
        shown = list(dict.fromkeys([*list(counts)[:FACET_VALUES], *chosen]))
        model = {"brand": Brand, "category": Category}.get(field)
        names = await _names(session, model, set(shown)) if model else {}
        options = [{
            "value": v, "count": counts.get(v, 0), "checked": v in chosen,
            "label": names.get(v) or (f"#{v}" if field == "topics" else NOTE_TYPES.get(v, v) if field == "type" else v),
            "translate": field == "type",  # a fixed word; brand and topic names stay as written
        } for v in shown]
        groups.append({"field": field, "label": label, "options": options})
    return groups


def product_cards(result: SearchResult) -> list[dict[str, Any]]:
    cards = []
    for hit in result.hits:
        doc = hit.document
        cards.append({
            "href": f"/products/{doc.get('slug', '')}", "title": doc.get("title", ""), "marked": Markup(hit.highlights["title"]) if "title" in hit.highlights else None,
            "brand_name": doc.get("brand_name", ""), "price": doc.get("price") or 0, "currency": doc.get("currency", "CNY"),
            "in_stock": bool(doc.get("in_stock")), "image": doc.get("image"),
        })
    return cards


def page_of(request: Request, route: str, **params: Any) -> str | None:
    """The URL of a page a plugin may provide (by its route name), or None without it."""
    try:
        return request.app.route_reverse(route, **params)
    except (NoRouteMatchFoundException, ValueError):
        return None


def note_cards(request: Request, result: SearchResult) -> list[dict[str, Any]]:
    cards = []
    for hit in result.hits:
        doc = hit.document
        href = page_of(request, "note_page", note_id=int(hit.id)) if hit.id.isdigit() else None  # the notes plugin's page
        cards.append({
            "href": href, "title": doc.get("title", ""), "marked": Markup(hit.highlights["title"]) if "title" in hit.highlights else None,
            "author": doc.get("author_name") or doc.get("author", ""), "likes": doc.get("likes", 0), "cover": doc.get("cover"), "video": doc.get("type") == "video",
        })
    return cards


def creator_cards(request: Request, result: SearchResult) -> list[dict[str, Any]]:
    cards = []
    for hit in result.hits:
        doc = hit.document
        handle = str(doc.get("handle", ""))
        cards.append({
            "href": page_of(request, "notes_profile", handle=handle) if handle else None,  # the notes plugin's profile page
            "handle": handle, "marked": Markup(hit.highlights["handle"]) if "handle" in hit.highlights else None, "name": doc.get("name", ""),
            "tier": doc.get("tier", ""), "followers": int(doc.get("followers") or 0), "region": doc.get("region", ""),
            "categories": doc.get("categories") or [], "bio": (doc.get("bio") or "")[:120],
        })
    return cards


CARDS = {"products": lambda request, result: product_cards(result), "notes": note_cards, "creators": creator_cards}


def link(params: dict[str, list[str]], **changes: Any) -> str:
    """This search's URL with some parameters changed (None removes one)."""
    merged = dict(params)
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = [str(value)]
    return "/search?" + urlencode([(k, v) for k, values in merged.items() for v in values])


class SearchPage(Controller):
    path = "/search"

    @get("/", name="search_page", opt={GUEST_CACHE: True})
    async def search(self, request: Request, runtime: Runtime, session: AsyncSession) -> Any:
        params = {k: kept for k, vs in request.query_params.dict().items() if k not in FIXED and (kept := [v for v in vs if v.strip()])}
        tabs = [t for t in TABS.values() if t.index in runtime.search.indexes]
        wanted = params.get("tab", ["products"])[-1]
        tab = next((t for t in tabs if t.index == wanted), tabs[0])
        if tab.index != wanted:  # a tab that is gone (plugin disabled): its filters mean nothing here
            params = {k: v for k, v in params.items() if k == "q"}
        params["tab"] = [tab.index]
        q = params.get("q", [""])[-1]
        index = runtime.search.index(tab.index)
        ctx: dict[str, Any] = {
            "q": q, "tab": tab, "tabs": [(t, link({"q": [q]} if q else {}, tab=t.index)) for t in tabs],
            "clear_url": link({"q": [q]} if q else {}, tab=tab.index), "error": None,
        }
        try:
            query = parse_query(index, api_params(tab, params, runtime.settings.search_currency))
        except ValidationFailed as exc:
            ctx["error"] = exc.detail
            return await render(request, "storefront/search.html", ctx, status_code=422)
        result = await runtime.search.search(tab.index, query)
        last_page = min(result.pages, MAX_PAGE_DEPTH // PER_PAGE)
        ctx.update(
            result=result, page=query.page, sort=query.sort, params=params,
            sorts=[(name, SORT_LABELS.get(name, name)) for name in index.sort_names],
            facets=await facet_groups(session, tab, params, result),
            cards=CARDS[tab.index](request, result),
            filtered=any(k not in ("q", "tab", "sort", "page") for k in params),
            in_stock=_values(params, "in_stock") == ["true"], in_stock_count=result.facets.get("in_stock", {}).get("true", 0),
            price_min=params.get("price_min", [""])[-1], price_max=params.get("price_max", [""])[-1], currency=runtime.settings.search_currency,
            within=params.get("within", [""])[-1], within_options=WITHIN,
            followers_min=params.get("followers_min", [""])[-1], followers_max=params.get("followers_max", [""])[-1],
            beyond=not result.hits and result.total > 0,
            prev_url=link(params, page=query.page - 1 if query.page > 2 else None) if 1 < query.page <= last_page else None,
            next_url=link(params, page=query.page + 1) if query.page < last_page else None,
            last_url=link(params, page=last_page if last_page > 1 else None),
        )
        return await render(request, "storefront/search.html", ctx)
