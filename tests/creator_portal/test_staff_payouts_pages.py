"""Platform staff payout pages (/creator/staff/payouts): run payouts from the page, once
per key; read a run's payouts and skipped creators, its CSV and bank file; confirm what
the bank paid and record what it returned, each harmless when repeated. Everyone but
platform staff gets "not found"; bad input is refused with nothing written."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from sqlalchemy import func, select, update

from core.auth.models import User
from core.campaigns import payouts as service
from core.campaigns.models import Payout, PayoutRun
from core.campaigns.payouts import run_payouts
from core.db import utcnow
from core.testing import QueryCounter, html_login, post_form, settle
from tests.core.test_payouts import BANK, NOW, available, earn, ledger_clean, make_creator, make_world, payout_postings

XSS = '<script>alert("staff")</script>'
BASE = "/creator/staff/payouts"
HTML = {"accept": "text/html"}


async def portal_login(client: Any, email: str) -> None:
    client.cookies.clear()
    client.cookies.set("zc_lang", "en")
    await html_login(client, email, path="/creator/login")


async def counts(runtime: Any) -> tuple[int, int]:
    async with runtime.db.read_session() as s:
        runs = (await s.execute(select(func.count()).select_from(PayoutRun))).scalar_one()
        payouts = (await s.execute(select(func.count()).select_from(Payout))).scalar_one()
    return runs, payouts


async def payout_of(runtime: Any, creator_id: int) -> Payout:
    async with runtime.db.read_session() as s:
        return (await s.execute(select(Payout).where(Payout.creator_user_id == creator_id).order_by(Payout.id.desc()).limit(1))).scalar_one()


async def rename(runtime: Any, user_id: int, name: str) -> None:
    async with runtime.db.session() as s:
        await s.execute(update(User).where(User.id == user_id).values(display_name=name))
        await s.commit()


def text_of(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:p|div|section|td)>', html, re.DOTALL)
    assert found, f"no {testid}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


async def test_staff_run_payouts_from_the_page_once_per_key(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    mia = await make_creator(zc_runtime, zc_make_user, "mia.staff")
    leo = await make_creator(zc_runtime, zc_make_user, "leo.staff")
    await rename(zc_runtime, mia.id, f"Mia {XSS}")
    await earn(zc_runtime, world, mia.id, 30_000)
    await earn(zc_runtime, world, leo.id, 5_000)
    staff = await zc_make_user(staff=True)
    await portal_login(zc_client, staff.email)
    key = service.default_key("CNY", utcnow())

    dash = await zc_client.get("/creator")
    assert 'data-testid="staff-card"' in dash.text and 'href="/creator/staff/payouts"' in dash.text
    assert "Not a creator or brand member yet." not in dash.text
    page = await zc_client.get(BASE)
    assert page.status_code == 200, page.text
    assert re.search(r'href="/creator/staff/payouts" aria-current="page"', page.text)
    assert f'<option value="CNY" >CNY · key {key} · minimum ¥100.00</option>' in page.text
    assert "No payout runs yet." in page.text and "pays nothing again" in page.text

    # empty key: the monthly one
    ran = await post_form(zc_client, BASE, {"currency": "CNY", "key": ""})
    assert ran.status_code == 303, ran.text
    run_id = int(re.fullmatch(rf"{BASE}/(\d+)\?ran=new", ran.headers["location"]).group(1))
    async with zc_runtime.db.read_session() as s:
        run = await s.get(PayoutRun, run_id)
        assert (run.key, run.currency, run.status, run.created_by) == (key, "CNY", "done", staff.id)
    html = (await zc_client.get(ran.headers["location"])).text
    assert text_of(html, "run-notice") == "Paid 1 creator."
    assert html.count('data-testid="payout-row"') == 1
    row = re.search(r'data-testid="payout-row">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "@mia.staff" in row and "¥300.00" in row and "¥30.00" in row and "¥270.00" in row and "Paid out" in row and "Sandbox payouts" in row
    assert XSS not in html and "Mia &lt;script&gt;alert(&#34;staff&#34;)&lt;/script&gt;" in html  # a display name is text
    assert text_of(html, "run-total-paid") == "Paid out · 1 ¥300.00 − ¥30.00 = ¥270.00"
    skipped = re.search(r'data-testid="skipped-row">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "@leo.staff" in skipped and "¥50.00" in skipped and "Below the minimum" in skipped
    assert 'data-testid="confirm-form"' not in html and 'data-testid="return-form"' not in html  # nothing waits for a bank

    # the same key again pays nothing again
    again = await post_form(zc_client, BASE, {"currency": "CNY", "key": ""})
    assert again.status_code == 303 and again.headers["location"] == f"{BASE}/{run_id}?ran=again"
    html = (await zc_client.get(again.headers["location"])).text
    assert text_of(html, "run-notice") == "This run already happened: nothing paid again."
    same = await post_form(zc_client, BASE, {"currency": "CNY", "key": f"  {key} "})  # spaces around a key are not part of it
    assert same.headers["location"] == f"{BASE}/{run_id}?ran=again"
    assert await counts(zc_runtime) == (1, 1) and len(await payout_postings(zc_runtime)) == 1
    assert await available(zc_runtime, mia.id) == 0

    # the list: newest first, totals by status
    extra = await post_form(zc_client, BASE, {"currency": "CNY", "key": "extra-1"})
    assert extra.status_code == 303 and extra.headers["location"].endswith("?ran=new")
    html = (await zc_client.get(extra.headers["location"])).text
    assert text_of(html, "run-notice") == "Paid 0 creators." and "Nobody was skipped." not in html  # leo is still below the minimum
    listing = (await zc_client.get(BASE)).text
    keys = re.findall(r'data-testid="run-link"><code>([^<]+)</code>', listing)
    assert keys == ["extra-1", key]
    assert "Paid out</span> 1 · ¥270.00 net" in listing and "No payouts" in listing

    # the CSV export, through the portal's session
    export = await zc_client.get(f"{BASE}/{run_id}/payouts.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"] == f'attachment; filename="payout-run-{run_id}.csv"'
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0][:7] == ["payout_id", "creator", "provider", "status", "gross", "fee", "net"] and rows[1][1:7] == ["mia.staff", "sandbox", "paid", "300.00", "30.00", "270.00"]
    await ledger_clean(zc_runtime)


async def test_bank_payouts_confirmed_or_returned_from_the_run_page(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    lin = await make_creator(zc_runtime, zc_make_user, "lin.bank", method="bank", details=BANK)
    ana = await make_creator(zc_runtime, zc_make_user, "ana.bank", method="bank", details=BANK)
    tao = await make_creator(zc_runtime, zc_make_user, "tao.bank", method="bank", details=BANK)
    for who in (lin, ana, tao):
        await earn(zc_runtime, world, who.id, 20_000)
    other = await make_creator(zc_runtime, zc_make_user, "other.bank", method="bank", details=BANK)
    staff = await zc_make_user(staff=True)
    await portal_login(zc_client, staff.email)

    ran = await post_form(zc_client, BASE, {"currency": "CNY", "key": "bank-1"})
    run_url = ran.headers["location"].split("?")[0]
    run_id = int(run_url.rsplit("/", 1)[1])
    html = (await zc_client.get(ran.headers["location"])).text
    assert text_of(html, "run-notice") == "Paid 0 creators. 3 bank transfers wait for you to confirm them below."
    assert html.count('data-testid="return-form"') == 3 and html.count('data-testid="confirm-tick"') == 3
    assert "Confirm the bank paid all 3" in html
    bank_file = await zc_client.get(f"{run_url}/bank-file.csv")
    assert bank_file.status_code == 200 and bank_file.headers["content-disposition"] == f'attachment; filename="payout-run-{run_id}-bank.csv"'
    assert [r[1] for r in csv.reader(io.StringIO(bank_file.text))][1:] == ["lin.bank", "ana.bank", "tao.bank"]
    p_lin, p_ana, p_tao = [await payout_of(zc_runtime, who.id) for who in (lin, ana, tao)]

    # bad input: nothing changes
    blank = await post_form(zc_client, f"{run_url}/payouts/{p_tao.id}/returned", {"reason": "  "})
    assert blank.status_code == 422 and "say why the bank did not pay" in text_of(blank.text, f"error-payout-{p_tao.id}")
    none_ticked = await post_form(zc_client, f"{run_url}/confirm", {"which": "ticked"})
    assert none_ticked.status_code == 422 and "tick the payouts the bank paid" in none_ticked.text
    assert (await post_form(zc_client, f"{run_url}/confirm", {"which": "ticked", "payout": "abc"})).status_code == 422
    assert (await post_form(zc_client, f"{run_url}/confirm", {"which": "ticked", "payout": "999999"}, headers=HTML)).status_code == 404
    assert (await payout_of(zc_runtime, tao.id)).status == "awaiting" and await payout_postings(zc_runtime) == []

    # the bank returned tao's transfer: a double click is harmless
    reason = f"account closed {XSS}"
    for _ in range(2):
        back = await post_form(zc_client, f"{run_url}/payouts/{p_tao.id}/returned", {"reason": reason})
        assert back.status_code == 303 and back.headers["location"].startswith(f"{run_url}?notice=")
    tao_now = await payout_of(zc_runtime, tao.id)
    assert (tao_now.status, tao_now.error, tao_now.confirmed_by) == ("failed", f"bank: {reason}", staff.id)
    html = (await zc_client.get(back.headers["location"])).text
    assert "Marked as returned by the bank: the next run pays it again." in html
    assert XSS not in html and "account closed &lt;script&gt;" in html
    assert html.count('data-testid="return-form"') == 2

    # the bank paid lin (ticked), then all the rest; again: nothing new
    one = await post_form(zc_client, f"{run_url}/confirm", {"which": "ticked", "payout": str(p_lin.id)})
    assert one.status_code == 303 and one.headers["location"] == f"{run_url}?confirmed=1#payouts"
    assert text_of((await zc_client.get(one.headers["location"])).text, "confirm-notice") == "1 payout marked paid and posted to the ledger."
    failed_one = await post_form(zc_client, f"{run_url}/confirm", {"which": "ticked", "payout": [str(p_lin.id), str(p_tao.id)]})
    assert failed_one.status_code == 409 and "only payouts awaiting the bank can be confirmed" in text_of(failed_one.text, "error-confirm")
    rest = await post_form(zc_client, f"{run_url}/confirm", {"which": "all"})
    assert rest.headers["location"] == f"{run_url}?confirmed=1#payouts"
    twice = await post_form(zc_client, f"{run_url}/confirm", {"which": "all"})
    assert twice.headers["location"] == f"{run_url}?confirmed=0#payouts"
    html = (await zc_client.get(twice.headers["location"])).text
    assert text_of(html, "confirm-notice") == "Nothing new to confirm: those payouts were paid already."
    assert 'data-testid="confirm-form"' not in html and html.count("Paid out</span>") == 2
    assert sorted(await payout_postings(zc_runtime)) == sorted([f"payout:{p_lin.id}", f"payout:{p_ana.id}"])
    assert await available(zc_runtime, tao.id) == 20_000 and await available(zc_runtime, lin.id) == 0
    # a paid one cannot be "returned"; another run's payout is not this run's
    paid_back = await post_form(zc_client, f"{run_url}/payouts/{p_lin.id}/returned", {"reason": "oops"})
    assert paid_back.status_code == 409 and (await payout_of(zc_runtime, lin.id)).status == "paid"
    await earn(zc_runtime, world, other.id, 20_000)
    second = await post_form(zc_client, BASE, {"currency": "CNY", "key": "bank-2"})  # pays tao again, and other
    p_other = await payout_of(zc_runtime, other.id)
    assert p_other.run_id != run_id
    assert (await post_form(zc_client, f"{run_url}/payouts/{p_other.id}/returned", {"reason": "x"}, headers=HTML)).status_code == 404
    assert (await post_form(zc_client, f"{BASE}/999999/confirm", {"which": "all"}, headers=HTML)).status_code == 404
    assert (await payout_of(zc_runtime, other.id)).status == "awaiting"
    assert text_of((await zc_client.get(second.headers["location"])).text, "run-notice") == "Paid 0 creators. 2 bank transfers wait for you to confirm them below."
    await ledger_clean(zc_runtime)


async def test_bad_run_input_is_refused_with_nothing_written(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    usd = await make_world(zc_runtime, zc_make_user, zc_make_product, currency="USD")
    mia = await make_creator(zc_runtime, zc_make_user, "mia.bad")
    await earn(zc_runtime, world, mia.id, 30_000)
    await earn(zc_runtime, usd, mia.id, 30_000)
    staff = await zc_make_user(staff=True)
    await portal_login(zc_client, staff.email)
    page = (await zc_client.get(BASE)).text
    assert re.findall(r'<option value="([A-Z]{3})"', page) == ["CNY", "USD"]  # what some creator is owed in

    for form, status, message in (
        ({"currency": "ZZZ", "key": ""}, 422, "choose a currency from the list"),
        ({"currency": "EUR", "key": ""}, 422, "choose a currency from the list"),  # valid, but nobody is owed euros
        ({"currency": "CNY", "key": "   "}, 422, "key: 1-80 of"),
        ({"currency": "CNY", "key": "k" * 81}, 422, "key: 1-80 of"),
        ({"currency": "CNY", "key": "two words"}, 422, "key: 1-80 of"),
        ({"currency": "CNY", "key": f"x{XSS}"}, 422, "key: 1-80 of"),
    ):
        refused = await post_form(zc_client, BASE, form)
        assert refused.status_code == status, (form, refused.text)
        assert message in text_of(refused.text, "run-error"), form
        assert XSS not in refused.text and 'data-testid="run-form"' in refused.text
    assert await counts(zc_runtime) == (0, 0)

    # a key already used for another currency
    assert (await post_form(zc_client, BASE, {"currency": "CNY", "key": "shared"})).status_code == 303
    taken = await post_form(zc_client, BASE, {"currency": "USD", "key": "shared"})
    assert taken.status_code == 409 and "was a CNY run" in text_of(taken.text, "run-error") and 'value="shared"' in taken.text
    assert await counts(zc_runtime) == (1, 1)


async def test_nothing_to_run_when_nobody_is_owed(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    mia = await make_creator(zc_runtime, zc_make_user, "mia.none")
    await earn(zc_runtime, world, mia.id, 5_000, status="pending")  # not payable yet
    staff = await zc_make_user(staff=True)
    await portal_login(zc_client, staff.email)
    page = (await zc_client.get(BASE)).text
    assert 'data-testid="nothing-to-run"' in page and 'data-testid="run-form"' not in page
    stale = await post_form(zc_client, BASE, {"currency": "CNY", "key": ""})  # a form left open while the money was paid
    assert stale.status_code == 422 and "choose a currency from the list" in text_of(stale.text, "run-error")
    assert await counts(zc_runtime) == (0, 0)


async def test_nobody_but_staff_sees_or_changes_payout_runs(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    lin = await make_creator(zc_runtime, zc_make_user, "lin.nope", method="bank", details=BANK)
    await earn(zc_runtime, world, lin.id, 20_000)
    result = await run_payouts(zc_runtime, currency="CNY", key="run-key-of-staff", now=NOW)
    run_id, payout_id = result.run.id, result.payouts[0].id
    shopper = await zc_make_user()
    gets = [BASE, f"{BASE}/{run_id}", f"{BASE}/{run_id}/payouts.csv", f"{BASE}/{run_id}/bank-file.csv", f"{BASE}/999999"]
    posts = [(BASE, {"currency": "CNY", "key": "nope-2"}), (f"{BASE}/{run_id}/confirm", {"which": "all"}),
             (f"{BASE}/{run_id}/payouts/{payout_id}/returned", {"reason": "no"})]
    for email in (world.owner_email, lin.email, shopper.email):
        await portal_login(zc_client, email)
        dash = await zc_client.get("/creator")
        assert 'data-testid="staff-card"' not in dash.text
        for path in gets:
            response = await zc_client.get(path, headers=HTML)
            assert response.status_code == 404, (email, path)
            assert 'data-testid="error-page"' in response.text and "lin.nope" not in response.text and "run-key-of-staff" not in response.text
        for path, data in posts:
            assert (await post_form(zc_client, path, data, headers=HTML)).status_code == 404, (email, path)
    zc_client.cookies.clear()
    for path in gets:
        anonymous = await zc_client.get(path, follow_redirects=False)
        assert anonymous.status_code in (302, 303) and anonymous.headers["location"] == f"/creator/login?next={path}", path
    for path, data in posts:
        response = await post_form(zc_client, path, data, headers=HTML)
        assert response.status_code in (302, 303) and response.headers["location"] == f"/creator/login?next={path}", path
    assert await counts(zc_runtime) == (1, 1) and (await payout_of(zc_runtime, lin.id)).status == "awaiting"


async def test_staff_posts_need_the_csrf_token(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    lin = await make_creator(zc_runtime, zc_make_user, "lin.csrf", method="bank", details=BANK)
    await earn(zc_runtime, world, lin.id, 20_000)
    result = await run_payouts(zc_runtime, currency="CNY", key="csrf-1", now=NOW)
    staff = await zc_make_user(staff=True)
    await portal_login(zc_client, staff.email)
    await zc_client.get(BASE)
    for path, data in ((BASE, {"currency": "CNY", "key": "csrf-2"}), (f"{BASE}/{result.run.id}/confirm", {"which": "all"}),
                       (f"{BASE}/{result.run.id}/payouts/{result.payouts[0].id}/returned", {"reason": "no"})):
        assert (await post_form(zc_client, path, data, token=False)).status_code == 403, path
    assert await counts(zc_runtime) == (1, 1) and (await payout_of(zc_runtime, lin.id)).status == "awaiting"


async def statements_for(client: Any, runtime: Any, path: str) -> int:
    await settle(runtime)
    with QueryCounter() as q:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    return q.count


async def test_staff_pages_query_count_does_not_grow(zc_client, zc_runtime, zc_make_user, zc_make_product):
    """The same statements for a run of one payout as for many, and for one run as for many."""
    staff = await zc_make_user(staff=True)
    run_pages, list_pages = {}, {}
    for n in (1, 6):
        world = await make_world(zc_runtime, zc_make_user, zc_make_product, title=f"Seeding {n}")
        for i in range(n):
            creator = await make_creator(zc_runtime, zc_make_user, f"kol.{n}.{i}", method="bank" if i % 2 else "sandbox", details=BANK)
            await earn(zc_runtime, world, creator.id, 20_000)
            skipped = await make_creator(zc_runtime, zc_make_user, f"low.{n}.{i}")
            await earn(zc_runtime, world, skipped.id, 1_000)
        result = await run_payouts(zc_runtime, currency="CNY", key=f"count-{n}", now=NOW)
        assert len(result.payouts) == n
        for i in range(n - 1):
            await run_payouts(zc_runtime, currency="CNY", key=f"more-{n}-{i}", now=NOW)
        await portal_login(zc_client, staff.email)
        run_pages[n] = await statements_for(zc_client, zc_runtime, f"{BASE}/{result.run.id}")
        list_pages[n] = await statements_for(zc_client, zc_runtime, BASE)
    assert run_pages[1] == run_pages[6], run_pages
    assert list_pages[1] == list_pages[6], list_pages
