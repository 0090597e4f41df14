"""Payment provider webhooks: `POST /api/v1/payments/webhooks/{provider}`.

No bearer token and no CSRF (the API surface has none): the provider's signature over
the raw body is the authentication (see core.payments.webhooks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec
from litestar import Controller, Request, post

from core.payments import webhooks

if TYPE_CHECKING:
    from core.runtime import Runtime


class WebhookOut(msgspec.Struct):
    status: Literal["processed", "duplicate", "ignored"]
    event_id: str


class PaymentWebhookController(Controller):
    path = "/payments/webhooks"
    tags = ["payments"]

    @post("/{provider:str}", status_code=200, security=[])
    async def webhook(self, provider: str, request: Request, runtime: Runtime) -> WebhookOut:
        """A provider's event (Stripe: point the endpoint at `/api/v1/payments/webhooks/stripe`).
        Verified by its signature, stored once by event id, then applied. Answers
        `{"status": "processed" | "duplicate" | "ignored"}`; a bad signature is 400."""
        body = await request.body()
        answer = await webhooks.receive(runtime, provider, body, request.headers)
        return WebhookOut(status=answer["status"], event_id=answer["event_id"])


PAYMENT_CONTROLLERS = [PaymentWebhookController]
