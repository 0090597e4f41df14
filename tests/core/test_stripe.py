"""The Stripe provider alone, through the real SDK, against localstripe.

scripts/test.sh starts localstripe and sets ZHONGCAO_TEST_STRIPE_API_BASE; without it
these tests skip. localstripe declines at charge time the card 4000 0000 0000 0341
(Stripe's "attaches, then the charge fails"); 4000 0000 0000 0002 is declined by real
Stripe but only on attach by localstripe, so the tests use 0341.
"""

from __future__ import annotations

import os
import uuid

import pytest

from core.payments.models import PaymentStatus
from core.payments.providers import PaymentProvider, ProviderError
from core.payments.stripe_provider import StripeProvider, _HTTPXClient
from core.settings import Settings

API_BASE = os.environ.get("ZHONGCAO_TEST_STRIPE_API_BASE")
pytestmark = pytest.mark.skipif(not API_BASE, reason="needs localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh)")

KEY = "sk_test_zhongcao"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"


def make_provider(**kwargs) -> StripeProvider:
    return StripeProvider(Settings(stripe_secret_key=KEY, stripe_api_base=API_BASE, stripe_webhook_secret="whsec_test"), **kwargs)


@pytest.fixture
def provider() -> StripeProvider:
    return make_provider()


async def payment_method(provider: StripeProvider, number: str = GOOD_CARD) -> str:
    """What Stripe.js would hand the storefront: a PaymentMethod id."""
    pm = await provider._client().v1.payment_methods.create_async({"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    return pm.id


def key() -> str:
    return f"zc-test-{uuid.uuid4().hex}"


async def new_intent(provider: StripeProvider, amount: int = 12_800, capture_method: str = "automatic"):
    return await provider.create_intent(amount_minor=amount, currency="CNY", idempotency_key=key(), capture_method=capture_method, metadata={"checkout": "test"})


def test_provider_shape():
    provider = make_provider()
    assert isinstance(provider, PaymentProvider)
    assert provider.name == "stripe" and provider.label == "Stripe" and provider.test_mode is True
    live = StripeProvider(Settings(stripe_secret_key="sk_live_abc"))
    assert live.test_mode is False
    with pytest.raises(ValueError):
        StripeProvider(Settings(stripe_secret_key=None))


async def test_create_and_confirm(provider):
    intent = await new_intent(provider)
    assert intent.ref.startswith("pi_") and intent.status == PaymentStatus.REQUIRES_ACTION
    assert intent.amount_minor == 12_800 and intent.currency == "CNY" and intent.captured_minor == 0
    assert intent.client_secret and intent.client_secret.startswith(intent.ref)
    raw = await provider._client().v1.payment_intents.retrieve_async(intent.ref)
    assert raw.currency == "cny" and raw.metadata.to_dict() == {"checkout": "test"}

    paid = await provider.confirm(intent.ref, payment_method=await payment_method(provider), idempotency_key=key())
    assert paid.ref == intent.ref and paid.status == PaymentStatus.SUCCEEDED and paid.captured_minor == 12_800
    # confirming again changes nothing
    again = await provider.confirm(intent.ref, payment_method=await payment_method(provider), idempotency_key=key())
    assert again.status == PaymentStatus.SUCCEEDED
    assert (await provider.retrieve(intent.ref)).status == PaymentStatus.SUCCEEDED


async def test_decline(provider):
    intent = await new_intent(provider)
    with pytest.raises(ProviderError) as caught:
        await provider.confirm(intent.ref, payment_method=await payment_method(provider, DECLINED_CARD), idempotency_key=key())
    assert caught.value.declined is True and caught.value.code == "card_declined"
    after = await provider.retrieve(intent.ref)
    assert after.status == PaymentStatus.REQUIRES_ACTION and after.captured_minor == 0 and after.error == "card_declined"


async def test_not_a_payment_method_is_the_shoppers_error(provider):
    intent = await new_intent(provider)
    with pytest.raises(ProviderError) as caught:
        await provider.confirm(intent.ref, payment_method="4242 4242 4242 4242", idempotency_key=key())
    assert caught.value.declined is True and caught.value.code == "invalid_payment_method"


async def test_idempotency(provider):
    k = key()
    first = await provider.create_intent(amount_minor=500, currency="CNY", idempotency_key=k, capture_method="automatic", metadata={})
    second = await provider.create_intent(amount_minor=500, currency="CNY", idempotency_key=k, capture_method="automatic", metadata={})
    assert first.ref == second.ref
    other = await provider.create_intent(amount_minor=500, currency="CNY", idempotency_key=key(), capture_method="automatic", metadata={})
    assert other.ref != first.ref


async def test_idempotency_keys_reach_stripe():
    """Real Stripe dedupes by the Idempotency-Key header: every write carries ours."""
    seen: list[tuple[str, str, str | None]] = []

    class Recording(_HTTPXClient):
        async def request_async(self, method, url, headers, post_data=None):
            seen.append((method, url.split("/v1/", 1)[1], headers.get("Idempotency-Key")))
            return await super().request_async(method, url, headers, post_data)

    provider = make_provider(http_client_factory=Recording)
    pm = await payment_method(provider)
    seen.clear()
    intent = await provider.create_intent(amount_minor=700, currency="CNY", idempotency_key="zc-create-1" + key(), capture_method="automatic", metadata={})
    await provider.confirm(intent.ref, payment_method=pm, idempotency_key="zc-confirm-1")
    await provider.refund(intent.ref, amount_minor=100, idempotency_key="zc-refund-1")
    writes = [(m, path, k) for m, path, k in seen if m == "post"]
    assert writes[0][1] == "payment_intents" and writes[0][2].startswith("zc-create-1")
    assert writes[1] == ("post", f"payment_intents/{intent.ref}", "zc-confirm-1-pm")
    assert writes[2] == ("post", f"payment_intents/{intent.ref}/confirm", "zc-confirm-1")
    assert writes[3] == ("post", "refunds", "zc-refund-1")


async def test_manual_capture(provider):
    intent = await new_intent(provider, 9_900, "manual")
    held = await provider.confirm(intent.ref, payment_method=await payment_method(provider), idempotency_key=key())
    assert held.status == PaymentStatus.AUTHORIZED and held.captured_minor == 0
    captured = await provider.capture(intent.ref, amount_minor=9_900, idempotency_key=key())
    assert captured.status == PaymentStatus.SUCCEEDED and captured.captured_minor == 9_900
    # a repeated capture answers the captured intent
    assert (await provider.capture(intent.ref, amount_minor=9_900, idempotency_key=key())).status == PaymentStatus.SUCCEEDED


async def test_cancel(provider):
    unpaid = await new_intent(provider)
    assert (await provider.cancel(unpaid.ref, idempotency_key=key())).status == PaymentStatus.CANCELLED
    assert (await provider.cancel(unpaid.ref, idempotency_key=key())).status == PaymentStatus.CANCELLED  # again: no error

    held = await new_intent(provider, 4_000, "manual")
    await provider.confirm(held.ref, payment_method=await payment_method(provider), idempotency_key=key())
    assert (await provider.cancel(held.ref, idempotency_key=key())).status == PaymentStatus.CANCELLED
    assert (await provider.retrieve(held.ref)).status == PaymentStatus.CANCELLED

    paid = await new_intent(provider)
    await provider.confirm(paid.ref, payment_method=await payment_method(provider), idempotency_key=key())
    with pytest.raises(ProviderError) as caught:
        await provider.cancel(paid.ref, idempotency_key=key())
    assert caught.value.declined is False


async def test_full_and_partial_refunds(provider):
    intent = await new_intent(provider, 10_000)
    await provider.confirm(intent.ref, payment_method=await payment_method(provider), idempotency_key=key())
    k = key()
    part = await provider.refund(intent.ref, amount_minor=2_500, idempotency_key=k)
    assert part.ref.startswith("re_") and part.amount_minor == 2_500 and part.status == "succeeded"
    assert (await provider.refund(intent.ref, amount_minor=2_500, idempotency_key=k)).ref == part.ref  # retried: one refund
    rest = await provider.refund(intent.ref, amount_minor=7_500, idempotency_key=key())
    assert rest.ref != part.ref and rest.amount_minor == 7_500
    listed = await provider._client().v1.refunds.list_async({"payment_intent": intent.ref})
    assert sorted(r.amount for r in listed.data) == [2_500, 7_500]

    full = await new_intent(provider, 3_000)
    await provider.confirm(full.ref, payment_method=await payment_method(provider), idempotency_key=key())
    refund = await provider.refund(full.ref, amount_minor=3_000, idempotency_key=key())
    assert refund.amount_minor == 3_000 and refund.status == "succeeded"


async def test_refund_of_an_unpaid_intent_fails(provider):
    intent = await new_intent(provider)
    with pytest.raises(ProviderError) as caught:
        await provider.confirm(intent.ref, payment_method=await payment_method(provider, DECLINED_CARD), idempotency_key=key())
    with pytest.raises(ProviderError) as caught:
        await provider.refund(intent.ref, amount_minor=100, idempotency_key=key())
    assert caught.value.declined is False


async def test_retrieve(provider):
    intent = await new_intent(provider, 2_345, "manual")
    got = await provider.retrieve(intent.ref)
    assert (got.ref, got.status, got.amount_minor, got.currency) == (intent.ref, PaymentStatus.REQUIRES_ACTION, 2_345, "CNY")
    with pytest.raises(ProviderError) as caught:
        await provider.retrieve("pi_doesnotexist")
    assert caught.value.declined is False


async def test_network_errors_are_not_declines():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    provider = StripeProvider(Settings(stripe_secret_key=KEY, stripe_api_base=f"http://127.0.0.1:{port}"), max_network_retries=0)
    with pytest.raises(ProviderError) as caught:
        await provider.create_intent(amount_minor=100, currency="CNY", idempotency_key=key(), capture_method="automatic", metadata={})
    assert caught.value.declined is False
