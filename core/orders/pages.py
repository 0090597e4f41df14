"""The delivery-address step that the storefront's plugins share for purchases of their
own (a flash deal in a live room, a seat in a team purchase): ask for the address, her
last one filled in; check it before anything is held; start the purchase; go to the
storefront's payment page. A refusal shows the form again with what was wrong, nothing
held."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from litestar.response import Redirect

from core import forms
from core.errors import DomainError, NotFound
from core.orders import checkout as checkouts
from core.orders import service as orders
from core.web import login_url

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor

# show_form(address, failure, status_code): the plugin's page with the address form
ShowForm = Callable[[dict[str, str], DomainError | None, int], Awaitable[Any]]


async def address_form(session: AsyncSession, actor: Actor, show_form: ShowForm) -> Any:
    """The form, with the address of her last order (or an empty one)."""
    return await show_form(await orders.last_address(session, actor.user_id), None, 200)


async def address_then_payment(
    request: Request, session: AsyncSession, actor: Actor | None, data: dict[str, Any], *, here: str, show_form: ShowForm, start: Callable[[dict[str, str]], Awaitable[str]],
) -> Any:
    """POST of the purchase: from a Buy button (`start` in the form: no address yet, show
    the form) or from the form itself: check the address, run `start(address)` (it holds
    what is bought and returns the checkout's token) and redirect to its payment page.
    A missing thing (404) stays a 404; any other refusal shows the form again."""
    if actor is None:
        return Redirect(login_url(here), status_code=303)
    if forms.text(data, "start"):
        return await address_form(session, actor, show_form)
    address = {k: forms.text(data, k) for k in checkouts.ADDRESS_FIELDS}
    await session.close()  # the purchase runs its own transactions
    try:
        checkouts.clean_address(address)  # a bad address is told before anything is held
        token = await start(address)
    except NotFound:
        raise
    except DomainError as exc:
        return await show_form(address, exc, exc.status_code)
    return Redirect(f"/checkout/{token}", status_code=303)
