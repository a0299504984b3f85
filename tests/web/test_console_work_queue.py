"""The specialist work queues over HTTP: the JSON API and the page's forms, behind sign-in and CSRF."""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from test_console_api import (  # noqa: F401 (fixtures)
    Staff, alice, audit, bob, client, rasa, seeded, settings, store, supervisor,
)

from autofinance.adapters.store.models import Account, HardshipCase, WorkItem
from autofinance.bootstrap import Container
from autofinance.services import hardship

DANA = "7301005530"


def dana_extension(store: Container) -> str:
    """Dana asks for a payment extension in the chat: a hardship item is queued."""
    today = datetime.now(ZoneInfo(store.settings.lender_timezone)).date()
    with store.uow() as uow:
        dana = uow.session.scalar(select(Account.customer_id).where(Account.account_number == DANA))
    return hardship.request_hardship(dana, "extension", "lost my job", store.uow(), today).case_number


def state(store: Container, reference: str) -> tuple[str, str | None]:
    with store.uow() as uow:
        item = uow.session.scalars(select(WorkItem).where(WorkItem.reference == reference)).one()
        return item.status, item.note


def past_due(store: Container) -> Decimal:
    with store.uow() as uow:
        return uow.session.scalar(select(Account.past_due_amount).where(Account.account_number == DANA))


def path(reference: str, action: str) -> str:
    return f"/console/api/work-items/{reference}/{action}"


# --- sign-in and CSRF --------------------------------------------------------------------------


async def test_signed_out_the_queues_page_redirects_and_the_api_answers_401(client: TestClient, store: Container) -> None:
    reference = dana_extension(store)

    page = await client.get("/console/work", allow_redirects=False)
    listing = await client.get("/console/api/work-items")
    claim = await client.post(path(reference, "claim"))
    form = await client.post(f"/console/work/{reference}/claim", data={}, allow_redirects=False)

    assert (page.status, page.headers["Location"]) == (302, "/console/sign-in")
    assert listing.status == 401 and claim.status == 401 and "error" in await claim.json()
    assert (form.status, form.headers["Location"]) == (302, "/console/sign-in")
    assert state(store, reference) == ("open", None)


async def test_every_change_needs_the_csrf_token(client: TestClient, store: Container, alice: Staff) -> None:
    reference = dana_extension(store)

    for action in ("claim", "release", "complete", "decline"):
        without = await client.post(path(reference, action), headers=alice.cookie, json={"note": "x"})
        forged = await client.post(path(reference, action), json={"note": "x"},
                                   headers={**alice.cookie, "X-CSRF-Token": "0" * 64})
        form = await client.post(f"/console/work/{reference}/{action}", headers=alice.cookie,
                                 data={"note": "x"})
        assert (without.status, forged.status, form.status) == (403, 403, 403), action
    assert state(store, reference) == ("open", None)
    assert audit(store, "work_item_claimed") == []


# --- the JSON API ---------------------------------------------------------------------------------


async def test_the_api_lists_each_queue_and_refuses_an_unknown_one(
        client: TestClient, store: Container, alice: Staff) -> None:
    reference = dana_extension(store)

    everything = await (await client.get("/console/api/work-items", headers=alice.cookie)).json()
    hardship_only = await (await client.get("/console/api/work-items?kind=hardship", headers=alice.cookie)).json()
    lease_only = await (await client.get("/console/api/work-items?kind=lease_extension", headers=alice.cookie)).json()
    unknown = await client.get("/console/api/work-items?kind=payments", headers=alice.cookie)

    assert [(i["reference"], i["kind"], i["status"], i["customer"]) for i in everything["items"]] == [
        (reference, "hardship", "open", "Dana W.")]
    assert hardship_only == everything and lease_only == {"items": []}
    assert unknown.status == 404


async def test_a_second_claimer_is_refused_with_409_and_only_the_holder_decides(
        client: TestClient, store: Container, alice: Staff, bob: Staff, supervisor: Staff) -> None:
    reference = dana_extension(store)

    first = await client.post(path(reference, "claim"), headers=alice.post)
    second = await client.post(path(reference, "claim"), headers=bob.post)
    by_bob = await client.post(path(reference, "complete"), headers=bob.post, json={})
    by_supervisor = await client.post(path(reference, "decline"), headers=supervisor.post, json={"note": "no"})

    assert first.status == 200 and (await first.json())["item"]["claimed_by"] == "Alice Agent"
    assert second.status == 409 and "Alice Agent" in (await second.json())["error"]
    assert (by_bob.status, by_supervisor.status) == (403, 403)
    assert state(store, reference) == ("claimed", None)


async def test_declining_without_a_note_is_refused_and_with_one_is_recorded_once(
        client: TestClient, store: Container, alice: Staff) -> None:
    reference = dana_extension(store)
    await client.post(path(reference, "claim"), headers=alice.post)

    no_body = await client.post(path(reference, "decline"), headers=alice.post)
    blank = await client.post(path(reference, "decline"), headers=alice.post, json={"note": "  "})
    declined = await client.post(path(reference, "decline"), headers=alice.post,
                                 json={"note": "Income not verified."})
    again = await client.post(path(reference, "decline"), headers=alice.post, json={"note": "Twice?"})
    complete_after = await client.post(path(reference, "complete"), headers=alice.post, json={})

    assert (no_body.status, blank.status) == (400, 400)
    assert "note" in (await blank.json())["error"]
    assert declined.status == 200 and (await declined.json())["item"]["status"] == "declined"
    assert (again.status, complete_after.status) == (409, 409)
    assert state(store, reference) == ("declined", "Income not verified.")
    [(actor, subject, details)] = audit(store, "work_item_declined")
    assert actor.startswith("staff:") and subject == reference and "Income" not in str(details)


async def test_completing_applies_the_request_and_a_double_complete_changes_nothing_more(
        client: TestClient, store: Container, alice: Staff) -> None:
    reference = dana_extension(store)
    await client.post(path(reference, "claim"), headers=alice.post)

    done = await client.post(path(reference, "complete"), headers=alice.post, json={"note": "ok"})
    twice = await client.post(path(reference, "complete"), headers=alice.post, json={"note": "ok"})

    assert (done.status, twice.status) == (200, 409)
    assert past_due(store) == Decimal("406.20")  # one missed payment moved to the end, once
    with store.uow() as uow:
        assert uow.session.scalar(select(HardshipCase.status)) == "approved"
    assert len(audit(store, "work_item_completed")) == 1


async def test_the_holder_releases_an_item_and_another_can_then_claim_it(
        client: TestClient, store: Container, alice: Staff, bob: Staff) -> None:
    reference = dana_extension(store)
    await client.post(path(reference, "claim"), headers=alice.post)

    not_bobs = await client.post(path(reference, "release"), headers=bob.post)
    released = await client.post(path(reference, "release"), headers=alice.post)
    claimed = await client.post(path(reference, "claim"), headers=bob.post)

    assert (not_bobs.status, released.status, claimed.status) == (403, 200, 200)
    assert (await claimed.json())["item"]["claimed_by"] == "Bob Agent"


async def test_an_unknown_item_or_action_is_not_found(client: TestClient, alice: Staff) -> None:
    missing = await client.post(path("HSNOSUCH00", "claim"), headers=alice.post)
    odd = await client.post(path("HSNOSUCH00", "approve"), headers=alice.post)
    assert (missing.status, odd.status) == (404, 404)


# --- the page ----------------------------------------------------------------------------------


async def test_the_page_shows_the_four_queues_escaped_and_its_forms_carry_the_csrf_token(
        client: TestClient, store: Container, alice: Staff) -> None:
    today = datetime.now(ZoneInfo(store.settings.lender_timezone)).date()
    with store.uow() as uow:
        dana = uow.session.scalar(select(Account.customer_id).where(Account.account_number == DANA))
    reference = hardship.request_hardship(dana, "extension", "<script>alert(1)</script>", store.uow(),
                                          today).case_number

    response = await client.get("/console/work", headers=alice.cookie)
    page = await response.text()

    assert response.status == 200 and "script-src 'self'" in response.headers["Content-Security-Policy"]
    for title in ("Hardship requests", "Lease extensions", "Insurance documents", "Fee waiver exceptions"):
        assert title in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(" not in page
    assert f'action="/console/work/{reference}/claim"' in page
    assert 'name="csrf_token" value="' + alice.csrf + '"' in page
    assert 'href="/console/work"' in await (await client.get("/console", headers=alice.cookie)).text()


async def test_the_forms_claim_then_decline_with_a_note_and_show_refusals_on_the_page(
        client: TestClient, store: Container, alice: Staff, bob: Staff) -> None:
    reference = dana_extension(store)
    form = {"csrf_token": alice.csrf}

    claimed = await client.post(f"/console/work/{reference}/claim", headers=alice.cookie, data=form,
                                allow_redirects=False)
    taken = await client.post(f"/console/work/{reference}/claim", headers=bob.cookie,
                              data={"csrf_token": bob.csrf}, allow_redirects=False)
    no_note = await client.post(f"/console/work/{reference}/decline", headers=alice.cookie,
                                data={**form, "note": ""}, allow_redirects=False)
    declined = await client.post(f"/console/work/{reference}/decline", headers=alice.cookie,
                                 data={**form, "note": "Income not verified."}, allow_redirects=False)

    assert (claimed.status, claimed.headers["Location"]) == (303, "/console/work?done=claim")
    assert taken.status == 409 and "Alice Agent has already claimed" in await taken.text()
    assert no_note.status == 400 and "Declining needs a note" in await no_note.text()
    assert (declined.status, declined.headers["Location"]) == (303, "/console/work?done=decline")
    assert state(store, reference) == ("declined", "Income not verified.")
    after = await (await client.get("/console/work?done=decline", headers=alice.cookie)).text()
    assert "Item declined: the customer will be told." in after and reference not in after
    shown = await (await client.get("/console/work?done=<b>x</b>", headers=alice.cookie)).text()
    assert "<b>x</b>" not in shown and not re.search(r"&lt;b&gt;x", shown)  # nothing reflected
