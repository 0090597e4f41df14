"""How a portal form's change ends: the service's work committed and a 303 to the next
page with a notice (so a reload never posts twice), or, when a service refuses, the
transaction rolled back and the same page shown again with its message and status.
A NotFound is no refusal: it stays the friendly 404 page (another brand's or creator's id)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from litestar.response import Redirect

from core.errors import DomainError, NotFound

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def attempt(
    session: AsyncSession,
    work: Callable[[], Awaitable[T]],
    done: str | Callable[[T], str],
    page: Callable[..., Awaitable[Any]],
    *,
    not_found_refuses: bool = False,
) -> Any:
    """Run `work` in the request's transaction; commit and redirect to `done` (a URL, or
    made from what `work` returned), or roll back and answer `page(error=, status_code=)`:
    the page the form is on (a `functools.partial` of its view with the form as typed).
    With `not_found_refuses`, a NotFound is a message too (a handle typed into a form)."""
    try:
        result = await work()
        await session.commit()
    except DomainError as exc:
        if isinstance(exc, NotFound) and not not_found_refuses:
            raise
        await session.rollback()
        return await page(error=exc.detail, status_code=exc.status_code)
    return Redirect(done(result) if callable(done) else done, status_code=303)
