"""Moderation: a verdict (allow, hold, block) on a text before others see it, and the
staff's review of what was held.

`moderate(runtime, kind, text, author_user_id)` asks every `moderate_content`
implementation (the hook this plugin publishes, `plugins.notes.specs`) and keeps the
strictest verdict: block > hold > allow. The plugin's own implementation is a keyword
list in two tiers, configured from the environment (comma- or newline-separated;
unset means the built-in defaults below, empty means none):

- `ZHONGCAO_NOTES_BLOCKLIST`: refused outright (the author gets 422 with the reasons);
- `ZHONGCAO_NOTES_HOLDLIST`: shown to nobody until staff allow it (a `ModerationCase`).

Matching is case-insensitive and NFKC-normalised, so full-width ＡＢＣ and ａｂｃ match abc
and full-width digits match digits. A keyword of Latin letters and digits matches whole
words only ("ass" does not hold "class"), and the words of a phrase may be parted by
any run of spaces or symbols ("replica-watches"); any other keyword (Chinese, mixed like 加v)
matches anywhere, also with spaces, punctuation or zero-width characters slipped in
between its characters ("加 微-信" matches 加微信).
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select, update

from core.auth.permissions import Actor, require_staff
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.plugin_manager import PluginError
from plugins.notes.models import ModerationCase, Verdict

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

BLOCKLIST_ENV = "ZHONGCAO_NOTES_BLOCKLIST"
HOLDLIST_ENV = "ZHONGCAO_NOTES_HOLDLIST"
# Defaults: gambling, counterfeits and surrogacy are refused; moving buyers off the
# platform (a WeChat id, "DM me for the price") waits for a person.
DEFAULT_BLOCKLIST = ("赌博", "博彩", "网赌", "代孕", "高仿", "假货", "counterfeit", "replica watches", "online casino")
DEFAULT_HOLDLIST = ("加微信", "加vx", "加v信", "私聊领取", "私信领取", "wechat me", "dm me for price", "whatsapp me")
SEVERITY = {Verdict.ALLOW: 0, Verdict.HOLD: 1, Verdict.BLOCK: 2}
KINDS = ("note", "comment")
MAX_REASONS = 20
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


class ModerationVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """What `moderate_content` returns: allow, hold (for staff review) or block, and why."""

    verdict: str  # "allow" | "hold" | "block"
    reasons: tuple[str, ...] = ()


ALLOWED = ModerationVerdict(verdict=Verdict.ALLOW)


# ---------------------------------------------------------------- the keyword lists


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), case-folded, invisible characters dropped."""
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()


def _compact(text: str) -> str:
    """Only letters, digits and marks: what a keyword is matched against when someone
    slips spaces or symbols between its characters."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LNM")


def _is_latin_word(keyword: str) -> bool:
    return all(ch.isascii() for ch in keyword)


@dataclass(frozen=True)
class KeywordList:
    words: tuple[str, ...]  # normalised, in the order configured
    latin: tuple[tuple[str, re.Pattern[str]], ...]
    other: tuple[tuple[str, str], ...]  # (keyword, compact form)

    def matches(self, text: str) -> list[str]:
        norm = normalise(text)
        compact = _compact(norm)
        found = [word for word, pattern in self.latin if pattern.search(norm)]
        found += [word for word, packed in self.other if packed and packed in compact]
        return found


@functools.lru_cache(maxsize=16)
def parse_keywords(raw: str) -> KeywordList:
    """A keyword list from its setting: separated by commas (also full-width ，、) or lines."""
    words: list[str] = []
    for part in re.split(r"[,\n;，、；]", normalise(raw)):
        word = " ".join(part.split())
        if word and word not in words:
            words.append(word)
    latin = tuple(
        (w, re.compile(r"(?<![0-9a-z])" + r"[^0-9a-z]+".join(re.escape(p) for p in w.split(" ")) + r"(?![0-9a-z])")) for w in words if _is_latin_word(w)
    )
    other = tuple((w, _compact(w)) for w in words if not _is_latin_word(w))
    return KeywordList(tuple(words), latin, other)


def keyword_lists() -> tuple[KeywordList, KeywordList]:
    """(blocklist, holdlist) as configured now (read on each call: cheap, and tests and
    operators can change the environment without a restart)."""
    block = os.environ.get(BLOCKLIST_ENV)
    hold = os.environ.get(HOLDLIST_ENV)
    return (
        parse_keywords(",".join(DEFAULT_BLOCKLIST) if block is None else block),
        parse_keywords(",".join(DEFAULT_HOLDLIST) if hold is None else hold),
    )


def keyword_verdict(text: str) -> ModerationVerdict:
    """The plugin's own `moderate_content`: block on a blocklisted word, else hold on a
    holdlisted one, else allow."""
    block, hold = keyword_lists()
    blocked = block.matches(text)
    if blocked:
        return ModerationVerdict(verdict=Verdict.BLOCK, reasons=tuple(f"blocked word: {w}" for w in blocked))
    held = hold.matches(text)
    if held:
        return ModerationVerdict(verdict=Verdict.HOLD, reasons=tuple(f"needs review: {w}" for w in held))
    return ALLOWED


# ---------------------------------------------------------------- asking every plugin


async def moderate(runtime: Runtime, kind: str, text: str, author_user_id: int | None) -> ModerationVerdict:
    """The strictest verdict of every `moderate_content` implementation on `text`, with
    the reasons of those that gave it. Engagement calls it for comments (kind "comment").
    Call it before opening the write transaction when you can: a plugin may be slow."""
    if kind not in KINDS:
        raise ValueError(f"moderation kind must be one of {KINDS}")
    best = ALLOWED
    reasons: list[str] = []
    for plugin, answer in await runtime.pm.acall_each("moderate_content", kind=kind, text=text, author_user_id=author_user_id, runtime=runtime):
        if not isinstance(answer, ModerationVerdict) or answer.verdict not in SEVERITY:
            raise PluginError(f"plugin {plugin!r}: hook moderate_content must return plugins.notes.moderation.ModerationVerdict (allow, hold or block) or None")
        if SEVERITY[answer.verdict] > SEVERITY[best.verdict]:
            best, reasons = answer, []
        if answer.verdict == best.verdict:
            reasons.extend(r for r in answer.reasons if isinstance(r, str) and r not in reasons)
    if best.verdict == Verdict.ALLOW:
        return ALLOWED
    return ModerationVerdict(verdict=best.verdict, reasons=tuple(r[:200] for r in reasons[:MAX_REASONS]) or (f"{best.verdict} by moderation",))


def refuse(verdict: ModerationVerdict, what: str = "this note") -> ValidationFailed:
    """The 422 a blocked text gets: nothing is written, and the author sees why."""
    return ValidationFailed(f"{what} cannot be published: " + "; ".join(verdict.reasons), extra={"reasons": list(verdict.reasons), "verdict": verdict.verdict})


# ---------------------------------------------------------------- cases


class CaseStatus:
    OPEN = "open"
    ALLOWED = "allowed"
    BLOCKED = "blocked"


async def open_case(session: AsyncSession, kind: str, ref_id: int, verdict: ModerationVerdict) -> ModerationCase:
    """Put something held in the staff's queue (one open case per object: an existing
    open case is updated with the newer reasons)."""
    existing = (
        await session.execute(select(ModerationCase).where(ModerationCase.kind == kind, ModerationCase.ref_id == ref_id, ModerationCase.status == CaseStatus.OPEN))
    ).scalar_one_or_none()
    if existing is not None:
        existing.verdict, existing.reasons = verdict.verdict, list(verdict.reasons)
        await session.flush()
        return existing
    case = ModerationCase(kind=kind, ref_id=ref_id, verdict=verdict.verdict, reasons=list(verdict.reasons), status=CaseStatus.OPEN, created_at=utcnow())
    session.add(case)
    await session.flush()
    return case


async def list_cases(session: AsyncSession, actor: Actor | None, *, status: str = CaseStatus.OPEN, kind: str | None = None, limit: int = 50, offset: int = 0) -> list[ModerationCase]:
    """The review queue for platform staff, oldest first."""
    require_staff(actor)
    query = select(ModerationCase).where(ModerationCase.status == status)
    if kind is not None:
        query = query.where(ModerationCase.kind == kind)
    return list((await session.execute(query.order_by(ModerationCase.created_at, ModerationCase.id).limit(limit).offset(offset))).scalars())


async def decide_case(session: AsyncSession, runtime: Runtime, actor: Actor | None, case_id: int, *, allow: bool, now: datetime | None = None) -> ModerationCase:
    """Staff allow (the note or comment becomes visible) or block (it stays hidden) a held
    item. Deciding the same way twice is a no-op; the other way, 409."""
    actor = require_staff(actor)
    case = await session.get(ModerationCase, case_id)
    if case is None:
        raise NotFound("no such moderation case")
    wanted = CaseStatus.ALLOWED if allow else CaseStatus.BLOCKED
    if case.status == wanted:
        return case
    if case.status != CaseStatus.OPEN:
        raise Conflict(f"this case was {case.status} already")
    now = now or utcnow()
    moved = await session.execute(
        update(ModerationCase)
        .where(ModerationCase.id == case.id, ModerationCase.status == CaseStatus.OPEN)
        .values(status=wanted, decided_by=actor.user_id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(case)
    if moved.rowcount != 1:
        if case.status == wanted:
            return case
        raise Conflict(f"this case was {case.status} meanwhile")
    await _apply_decision(session, runtime, case, allow=allow, now=now)
    return case


async def _apply_decision(session: AsyncSession, runtime: Runtime, case: ModerationCase, *, allow: bool, now: datetime) -> None:
    if case.kind == "note":
        from plugins.notes.notes import release_held_note

        await release_held_note(session, runtime, case.ref_id, allow=allow, now=now)
    elif case.kind == "comment":
        # engagement owns comments: `decide_comment_case(session, runtime, comment_id, allow=...)`
        from plugins.notes import engagement

        await engagement.decide_comment_case(session, runtime, case.ref_id, allow=allow)
    else:  # pragma: no cover - only the kinds above open cases
        raise ValueError(f"unknown moderation case kind {case.kind!r}")


def case_kind_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if value not in KINDS:
        raise ValidationFailed(f"kind is one of {', '.join(KINDS)}")
    return value
