"""The web app's public pages: signed document links tampered with, expired or moved to another
customer; password-reset links tampered with, superseded, expired or used twice; path traversal
on the static and document routes; the demo sign-in form posted from another site."""
from __future__ import annotations

import re
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from autofinance.bootstrap import Container, bootstrap
from autofinance.config import Settings
from autofinance.services.documents import document_link, list_statements
from autofinance.services.online_access import send_password_reset
from tests.e2e.conftest import RunningStack
from tests.security.test_attacks_support import (
    assert_nothing_disclosed, bulk, bulk_customer, customer_id_of, http, rows,
)

pytestmark = pytest.mark.e2e
__all__ = ["bulk"]


@pytest.fixture(scope="module")
def container(embedded_stack: RunningStack) -> Iterator[Container]:
    """The stack's own store and settings (same pepper), as the services see them."""
    made = bootstrap(Settings.from_env(embedded_stack.env))
    yield made
    made.close()


def path_of(link: str) -> str:
    parts = urllib.parse.urlsplit(link)
    return f"{parts.path}?{parts.query}"


def with_query(link: str, **changes: str) -> str:
    parts = urllib.parse.urlsplit(link)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update(changes)
    return f"{parts.path}?{urllib.parse.urlencode(query)}"


@pytest.fixture(scope="module")
def maria_link(embedded_stack: RunningStack, container: Container) -> tuple[int, str, str]:
    """A genuine link to Maria's newest statement: (customer id, document id, link)."""
    maria = customer_id_of(embedded_stack, "7301004821")
    today = datetime.now(timezone.utc).date()
    document = list_statements(maria, container.uow(), today)[0].document_id
    link = document_link(maria, document, "http://x", container.settings.secret_pepper)
    status, _, raw = http(embedded_stack, "web", path_of(link))
    assert status == 200 and b"****4821" in raw  # the genuine link works: the attacks below are fair
    return maria, document, link


def tampered(kind: str, maria: int, document: str, link: str, james: int, pepper: object) -> str:
    sig = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))["sig"]
    if kind == "other-customer":
        return with_query(link, c=str(james))
    if kind == "later-expiry":
        return with_query(link, exp=str(int(datetime.now().timestamp()) + 10 ** 7))
    if kind == "other-document":
        return path_of(link).replace(f"/documents/{document}", "/documents/contract")
    if kind == "flipped-signature":
        return with_query(link, sig=sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    if kind == "no-signature":
        return with_query(link, sig="")
    if kind == "signature-case":
        return with_query(link, sig=sig.upper())
    if kind == "customer-negative":
        return with_query(link, c=f"-{maria}")
    if kind == "expired":
        past = datetime.now(timezone.utc) - timedelta(days=2)
        return path_of(document_link(maria, document, "http://x", pepper, now=past, ttl_minutes=60))
    raise ValueError(kind)


LINK_ATTACKS = ["other-customer", "later-expiry", "other-document", "flipped-signature",
                "no-signature", "signature-case",
                "customer-negative", "expired"]


@pytest.mark.parametrize("kind", LINK_ATTACKS)
def test_a_tampered_or_expired_document_link_shows_nothing(
        running: RunningStack, container: Container, maria_link: tuple[int, str, str], kind: str) -> None:
    maria, document, link = maria_link
    james = customer_id_of(running, "7301007734")
    path = tampered(kind, maria, document, link, james, container.settings.secret_pepper)
    status, headers, raw = http(running, "web", path)
    assert status == 403, (status, raw[:200])
    assert_nothing_disclosed(raw.decode(errors="replace"))
    assert headers.get("Cache-Control") == "no-store"


def test_every_refused_document_link_gets_the_same_page(
        running: RunningStack, container: Container, maria_link: tuple[int, str, str]) -> None:
    """No oracle: a forged signature, an expired link and another customer's id look alike."""
    maria, document, link = maria_link
    james = customer_id_of(running, "7301007734")
    bodies = {http(running, "web", tampered(kind, maria, document, link, james,
                                            container.settings.secret_pepper))[2]
              for kind in ("other-customer", "flipped-signature", "expired")}
    assert len(bodies) == 1


TRAVERSALS = [
    "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/widget.js/../../app.py",
    "/static/vendor/../../../../../etc/passwd", "/static/vendor/..%2f..%2f..%2fetc%2fpasswd",
    "/console/static/../app.py", "/console/static/%2e%2e/%2e%2e/config.py",
    "/console/static/..%2f..%2f..%2fconfig.py", "/console/static/%2e%2e%2f%2e%2e%2f.env",
    "/console/static/..%5c..%5cconfig.py", "/console/static//etc/passwd",
    "/console/static/../templates/console.html", "/documents/..%2f..%2f..%2fetc%2fpasswd",
    "/documents/../../etc/passwd", "/documents/%2e%2e%2fconfig.py?c=1&exp=9999999999&sig=x",
    "/dev/outbox.json/../../../etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_on_static_and_document_routes_reads_no_file(running: RunningStack, path: str) -> None:
    status, _, raw = http_raw_path(running, path)
    assert status in (400, 403, 404), (status, raw[:200])
    for marker in (b"root:x:", b"import ", b"SECRET_PEPPER", b"{% extends", b"def "):
        assert marker not in raw


def http_raw_path(running: RunningStack, path: str) -> tuple[int, dict[str, str], bytes]:
    """The path exactly as written (urllib would not normalise it, but be explicit)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", int(running.env["WEB_PORT"]), timeout=15)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# --- password reset links (a bulk customer, so no demo customer's password changes) ------------

def reset_token(running: RunningStack, container: Container, customer: int,
                now: datetime | None = None) -> str:
    """Sends a reset link and reads it where the customer would: the (dev) outbox."""
    send_password_reset(customer, container.uow(), "http://x", container.settings.secret_pepper, now=now)
    email = rows(running, "SELECT email FROM customers WHERE id = ?", (customer,))[0][0]
    _, messages = running.get("web", "/dev/outbox.json")
    body = next(m["body"] for m in messages if m["to"] == email and "reset-password?token=" in m["body"])
    return re.search(r"token=([A-Za-z0-9_\-]+)", body).group(1)


def password_hash(running: RunningStack, customer: int) -> str:
    return rows(running, "SELECT password_hash FROM online_credentials WHERE customer_id = ?",
                (customer,))[0][0]


def post_reset(running: RunningStack, token: str, password: str) -> tuple[int, bytes]:
    body = urllib.parse.urlencode({"token": token, "password": password, "confirm": password}).encode()
    status, _, raw = http(running, "web", "/reset-password", "POST", body,
                          {"Content-Type": "application/x-www-form-urlencoded"})
    return status, raw


NEW_PASSWORD = "correct horse battery staple 2026"


def bulk_id(running: RunningStack, index: int) -> int:
    return customer_id_of(running, bulk_customer(index)["account_number"])


def test_a_used_reset_link_does_not_work_twice(running: RunningStack, bulk: RunningStack,
                                               container: Container) -> None:
    customer = bulk_id(running, 990)
    token = reset_token(running, container, customer)
    status, raw = post_reset(running, token, NEW_PASSWORD)
    assert status == 200, raw[:300]
    changed = password_hash(running, customer)
    status, raw = post_reset(running, token, "an attackers own password 99")
    assert status == 400 and b"Test" not in raw
    assert password_hash(running, customer) == changed
    assert http(running, "web", f"/reset-password?token={token}")[0] == 400


RESET_KINDS = ["flipped", "truncated", "superseded", "expired", "empty", "other-param"]


@pytest.mark.parametrize("kind", RESET_KINDS)
def test_a_tampered_superseded_or_expired_reset_link_changes_no_password(
        running: RunningStack, bulk: RunningStack, container: Container, kind: str) -> None:
    customer = bulk_id(running, 991 + RESET_KINDS.index(kind))  # 5 reset emails a day each
    if kind == "expired":
        token = reset_token(running, container, customer,
                            now=datetime.now(timezone.utc) - timedelta(minutes=31))
    else:
        token = reset_token(running, container, customer)
    if kind == "flipped":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif kind == "truncated":
        token = token[:20]
    elif kind == "superseded":
        reset_token(running, container, customer)  # a newer link makes this one worthless
    elif kind == "empty":
        token = ""
    before = password_hash(running, customer)
    data = {"token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    if kind == "other-param":
        data = {"t": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    status, _, raw = http(running, "web", "/reset-password", "POST",
                          urllib.parse.urlencode(data).encode(),
                          {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400, raw[:300]
    assert password_hash(running, customer) == before
    assert b"Test" not in raw  # no first name of the customer
    if kind != "other-param":
        assert http(running, "web", f"/reset-password?token={urllib.parse.quote(token)}")[0] == 400


# --- the demo sign-in form from another site -----------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"}, {"Referer": "http://evil.example/page"}, {},
    {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
], ids=["foreign-origin", "foreign-referer", "no-origin", "null-origin", "cross-site-fetch"])
def test_the_demo_sign_in_cannot_be_posted_from_another_site(running: RunningStack, headers: dict) -> None:
    """Login CSRF: a foreign page signs the victim's browser in as a customer of its choosing."""
    status, answer_headers, raw = http(running, "web", "/demo/sign-in-as", "POST", b"customer=mlopez",
                                       {"Content-Type": "application/x-www-form-urlencoded", **headers})
    assert status == 403, raw[:200]
    assert "Set-Cookie" not in answer_headers and "meridian_portal" not in str(answer_headers)


def test_an_unsigned_in_console_page_redirects_only_to_the_sign_in_page(running: RunningStack) -> None:
    for path in ("/console", "/console/metrics", "/console?next=https://evil.example"):
        status, headers, _ = http(running, "web", path)
        assert status == 302 and headers["Location"] == "/console/sign-in"
    status, headers, _ = http_raw_path(running, "//evil.example/%2e%2e")
    assert status in (400, 404) and "evil.example" not in headers.get("Location", "")
