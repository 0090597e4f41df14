"""zh-CN and en. Catalogs come from `register_translations`; English text is the message id."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

    from core.runtime import Runtime

LOCALES = ("zh-CN", "en")
LANG_COOKIE = "zc_lang"


def merge_catalogs(*catalogs: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """One catalog from several modules' (a plugin whose pages span files). The catalog is
    global, so one English string must read the same everywhere: two translations of it
    are a mistake, raised here rather than one silently winning."""
    merged: dict[str, dict[str, str]] = {}
    for catalog in catalogs:
        for locale, strings in catalog.items():
            into = merged.setdefault(locale, {})
            for message, text in strings.items():
                if into.setdefault(message, text) != text:
                    raise ValueError(f"{locale} {message!r} is translated both {into[message]!r} and {text!r}")
    return merged


def translator(runtime: Runtime, locale: str) -> Callable[..., str]:
    catalog = runtime.translations.get(locale, {})

    def _(message: str, **values: object) -> str:
        text = catalog.get(message, message)
        return text.format(**values) if values else text

    return _


def plural_translator(translate: Callable[..., str]) -> Callable[..., str]:
    """`_n("{n} note", "{n} notes", n)`: the English form for n, then translated (Chinese
    has one form: give both keys the same translation)."""

    def _n(one: str, many: str, n: int, **values: object) -> str:
        return translate(one if n == 1 else many, n=n, **values)

    return _n


def pick_locale(connection: ASGIConnection, runtime: Runtime, preferred: str | None = None) -> str:
    """Cookie, then the account's choice, then Accept-Language, then the default."""
    chosen = connection.cookies.get(LANG_COOKIE) or preferred
    if chosen in LOCALES:
        return chosen
    for part in connection.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return runtime.settings.default_locale
