"""Issue 17: OpenID Connect Back-Channel Logout 1.0, seen from the applications.

Each application here is a real HTTP endpoint (``tests.support.logout_receiver``) that checks
the logout tokens it receives the way the README's recipe says, with joserfc against the
published JWKS: the token's signature, ``iss``, ``aud``, ``events`` and ``sid`` are checked by
that library, not by the provider's code. What is proved: the token's shape (section 2.4);
which clients are told (those that received tokens in the ended session and registered a
URI; never another realm's); delivery through the outbox (no page waits; an application that
answers 500, redirects or hangs gets bounded retries, each attempt recorded); the SSRF
setting; a step-up; the CLI and discovery. The libraries nobody here wrote
(express-openid-connect, mod_auth_openidc) are in ``test_issue17_backchannel_interop``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from joserfc import jwt
from sqlalchemy import delete, select

from idp import clock
from idp.config import ConfigError, load_settings
from idp.db import get_session
from idp.mail.sender import send_pending
from idp.models import DeliveryAttempt, OutboxMessage
from idp.services.clients import find_client
from idp.services.logout import BACKCHANNEL, LOGOUT_EVENT, RETRIES
from idp.services.realms import create_realm
from tests import conftest
from tests.conftest import RelyingParty
from tests.helpers import Browser, run_idp, totp_code
from tests.oidc_rp import RP
from tests.support.app_db import in_app
from tests.support.logout_receiver import LogoutReceiver
from tests.support.password_reset import refresh_status, sign_in_for_tokens, signed_in
from tests.support.signin import make_rp


@pytest.fixture
def receivers(realm: conftest.TestRealm) -> Iterator[list[LogoutReceiver]]:
    made: list[LogoutReceiver] = []
    yield made
    for receiver in made:
        receiver.stop()
    # The outbox is the database's, shared with the tests that follow: a logout token still
    # waiting for a retry here must not be delivered (and counted) by another test's worker.
    in_app(
        realm,
        lambda db: db.execute(
            delete(OutboxMessage).where(
                OutboxMessage.realm_id == realm.id, OutboxMessage.status == "pending"
            )
        ),
    )


def _app(
    realm: conftest.TestRealm, receivers: list[LogoutReceiver], *, uri: bool = True, **kw: Any
) -> tuple[RelyingParty, RP, LogoutReceiver]:
    """A confidential client whose back-channel logout URI is a live receiver (``uri``
    False: it registers none)."""
    receiver = LogoutReceiver(realm.issuer)
    receivers.append(receiver)
    redirect_uri = f"http://127.0.0.1:{receiver.port}/cb"
    client_id, secret = realm.client(
        redirect_uri=redirect_uri,
        backchannel_logout_uri=receiver.uri if uri else None,
        **kw,
    )
    receiver.client_id = client_id
    rp = RelyingParty(client_id, secret, redirect_uri, "http://127.0.0.1:9/bye")
    return rp, make_rp(realm, rp), receiver


def _also_sign_in(browser: Browser, client: RP) -> dict[str, Any]:
    """The browser, signed in at the provider already, signs in to another application
    (single sign-on: no page asks anything)."""
    flow = client.start()
    browser.get(flow.url)
    return client.finish(flow, browser)


def _sid(client: RP, token: dict[str, Any]) -> str:
    return str(client.verify_id_token(token["id_token"])["sid"])


def _messages(realm: conftest.TestRealm) -> list[OutboxMessage]:
    def find(db: Any) -> list[OutboxMessage]:
        rows = db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.realm_id == realm.id, OutboxMessage.kind == BACKCHANNEL)
            .order_by(OutboxMessage.id)
        ).all()
        db.expunge_all()
        return list(rows)

    return in_app(realm, find)


def _attempts(realm: conftest.TestRealm) -> list[DeliveryAttempt]:
    def find(db: Any) -> list[DeliveryAttempt]:
        rows = db.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.realm_id == realm.id)
            .order_by(DeliveryAttempt.id)
        ).all()
        db.expunge_all()
        return list(rows)

    return in_app(realm, find)


def _account_sign_out(realm: conftest.TestRealm, browser: Browser) -> Any:
    home = browser.get(realm.url("account/"))
    return browser.submit(home, action="/account/sign-out")


def _deliver(realm: conftest.TestRealm) -> list[str]:
    """Run the outbox worker once (it delivers what is due, of every realm: the database is
    shared with other tests), and say where this realm's logout tokens stand."""
    send_pending(realm.server.app)
    return [m.status for m in _messages(realm)]


# -- the logout token --------------------------------------------------------------------------
def test_the_logout_token_follows_section_2_4_and_the_application_verifies_it(realm, receivers):
    user = realm.user()
    rp, client, receiver = _app(realm, receivers, backchannel_logout_session_required=True)
    browser, token = sign_in_for_tokens(realm, client, user.email, user.password)
    sid = _sid(client, token)

    out = _account_sign_out(realm, browser)
    assert out.status == 200 and "You are signed out" in out.text
    assert receiver.received == []  # the page told nobody itself: the outbox does
    assert _deliver(realm) == ["sent"]

    (got,) = receiver.received
    assert got.refused is None, got.refused
    assert got.header["typ"] == "logout+jwt" and got.header["kid"] and got.header["alg"]
    claims = got.claims
    assert claims["iss"] == realm.issuer and claims["aud"] == rp.client_id
    assert claims["sub"] == user.sub and claims["sid"] == sid
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert 0 < claims["exp"] - claims["iat"] <= 300 and claims["jti"]
    assert "nonce" not in claims
    # What hangs from the session ended with it (as before this issue).
    assert not signed_in(realm, browser)
    assert client.introspect(token["access_token"]) == {"active": False}
    assert refresh_status(client, rp, token["refresh_token"]) == (400, "invalid_grant")
    (attempt,) = _attempts(realm)
    assert (attempt.outcome, attempt.result) == ("sent", "HTTP 200")


def test_sid_is_in_every_logout_token_even_when_the_client_did_not_ask(realm, receivers):
    """Decision: ``sid`` always (section 2.4 allows it): without it an application ends every
    session of the user, not the one that ended here."""
    user = realm.user()
    _rp, client, receiver = _app(realm, receivers)
    browser, token = sign_in_for_tokens(realm, client, user.email, user.password)
    _account_sign_out(realm, browser)
    _deliver(realm)
    (got,) = receiver.accepted
    assert got.claims["sid"] == _sid(client, token) and got.claims["sub"] == user.sub


def test_a_forged_or_misdirected_token_is_refused_by_the_recipe(realm, receivers):
    """The receiving side's checks are real: a token for another client, or signed with
    another key, does not pass them (so that the acceptances above mean something)."""
    user = realm.user()
    _rp, client, receiver = _app(realm, receivers)
    _rp2, _client2, other = _app(realm, receivers)
    browser, _token = sign_in_for_tokens(realm, client, user.email, user.password)
    _account_sign_out(realm, browser)
    _deliver(realm)
    (genuine,) = receiver.accepted
    assert other.check(genuine.token).refused  # aud is the first client's
    from joserfc.jwk import RSAKey

    forged = jwt.encode(
        {"alg": "RS256", "kid": genuine.header["kid"], "typ": "logout+jwt"},
        genuine.claims,
        RSAKey.generate_key(2048),
    )
    assert receiver.check(forged).refused


# -- who is told ---------------------------------------------------------------------------------
def test_only_applications_that_signed_in_to_the_session_and_registered_a_uri_are_told(
    realm, receivers
):
    user = realm.user()
    _a, app_a, told = _app(realm, receivers)
    _b, app_b, no_uri = _app(realm, receivers, uri=False)
    _c, _app_c, not_signed_in = _app(realm, receivers)
    browser, _token = sign_in_for_tokens(realm, app_a, user.email, user.password)
    _also_sign_in(browser, app_b)
    other_user = realm.user()
    _other_browser, _ = sign_in_for_tokens(realm, app_a, other_user.email, other_user.password)

    _account_sign_out(realm, browser)
    _deliver(realm)
    assert [r.claims["sub"] for r in told.accepted] == [user.sub]
    assert no_uri.received == [] and not_signed_in.received == []
    assert [m.topic for m in _messages(realm)] == [_a.client_id]


def test_another_realms_application_is_never_told(realm, receivers, server):
    with server.app.app_context():
        db = get_session()
        row = create_realm(db, f"o{realm.name}", "Other realm")
        db.commit()
        other = conftest.TestRealm(name=row.name, id=row.id, base=server.url, server=server)
    user = realm.user()
    other_user = other.user()
    _rp, client, here = _app(realm, receivers)
    _orp, other_client, there = _app(other, receivers)
    browser, _ = sign_in_for_tokens(realm, client, user.email, user.password)
    other_browser, _ = sign_in_for_tokens(
        other, other_client, other_user.email, other_user.password
    )

    _account_sign_out(realm, browser)
    _deliver(realm)
    assert len(here.accepted) == 1 and there.received == []
    assert _messages(other) == []
    assert signed_in(other, other_browser)


def test_the_operator_signs_a_user_out_with_the_cli_and_the_applications_are_told(realm, receivers):
    user = realm.user()
    _rp, client, receiver = _app(realm, receivers)
    browser_one, token_one = sign_in_for_tokens(realm, client, user.email, user.password)
    browser_two, token_two = sign_in_for_tokens(realm, client, user.email, user.password)

    done = run_idp(realm.server, "user", "sign-out", user.email, "--realm", realm.name, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sessions_ended"] == 2
    _deliver(realm)
    assert sorted(r.claims["sid"] for r in receiver.accepted) == sorted(
        [_sid(client, token_one), _sid(client, token_two)]
    )
    assert not signed_in(realm, browser_one) and not signed_in(realm, browser_two)


def test_the_cli_disables_an_account_and_the_applications_are_told(realm, receivers):
    user = realm.user()
    _rp, client, receiver = _app(realm, receivers)
    browser, token = sign_in_for_tokens(realm, client, user.email, user.password)
    done = run_idp(realm.server, "user", "disable", user.email, "--realm", realm.name)
    assert done.returncode == 0, done.stderr
    _deliver(realm)
    assert [r.claims["sid"] for r in receiver.accepted] == [_sid(client, token)]
    assert client.introspect(token["access_token"]) == {"active": False}
    fresh = realm.browser()
    fresh.submit(fresh.get(client.start().url), {"email": user.email, "password": user.password})
    assert fresh.left_to is None  # a disabled account signs in to no application
    assert (
        run_idp(realm.server, "user", "enable", user.email, "--realm", realm.name).returncode == 0
    )


def test_a_step_up_tells_the_other_applications_not_the_one_stepping_up(realm, receivers):
    user = realm.user(with_totp=True)
    _a, app_a, receiver_a = _app(realm, receivers)
    _b, app_b, receiver_b = _app(realm, receivers)
    browser, token_a = sign_in_for_tokens(
        realm, app_a, user.email, user.password, secret=user.totp_secret
    )
    token_b = _also_sign_in(browser, app_b)
    old_sid = _sid(app_b, token_b)

    flow = app_a.start(prompt="login")
    page = browser.get(flow.url)
    page = browser.submit(page, {"email": user.email, "password": user.password})
    page = browser.submit(page, {"code": totp_code(user.totp_secret, 1)})
    stepped = app_a.finish(flow, browser)
    assert _sid(app_a, stepped) != old_sid

    _deliver(realm)
    assert [r.claims["sid"] for r in receiver_b.accepted] == [old_sid]
    assert receiver_a.received == []  # it holds tokens of the new session already
    assert app_a.introspect(stepped["access_token"])["active"] is True
    assert app_a.introspect(token_a["access_token"]) == {"active": False}


# -- delivery ------------------------------------------------------------------------------------
def test_an_application_answering_500_gets_bounded_retries_each_recorded(realm, receivers):
    user = realm.user()
    _rp, client, receiver = _app(realm, receivers)
    receiver.status = 500
    browser, _ = sign_in_for_tokens(realm, client, user.email, user.password)
    _account_sign_out(realm, browser)

    assert _deliver(realm) == ["pending"] and len(_attempts(realm)) == 1
    _deliver(realm)
    assert len(_attempts(realm)) == 1  # not due again yet
    with clock.travelled(seconds=RETRIES.backoff(1) + 1):
        assert _deliver(realm) == ["pending"] and len(_attempts(realm)) == 2
    travelled = 0
    for attempt in range(3, RETRIES.attempts + 1):
        travelled += RETRIES.backoff(attempt - 1) + 1
        with clock.travelled(seconds=RETRIES.backoff(1) + 1 + travelled):
            _deliver(realm)
    (message,) = _messages(realm)
    assert (message.status, message.attempts) == ("failed", RETRIES.attempts)
    attempts = _attempts(realm)
    assert len(attempts) == RETRIES.attempts == len(receiver.received)
    assert {a.result for a in attempts} == {"HTTP 500"}
    assert [a.outcome for a in attempts] == ["retrying"] * (RETRIES.attempts - 1) + ["failed"]
    # Bounded: the whole schedule is minutes, not hours.
    assert sum(RETRIES.backoff(n) for n in range(1, RETRIES.attempts)) <= 15 * 60


def test_a_hanging_application_holds_no_page_and_times_out(realm, receivers):
    user = realm.user()
    _rp, client, receiver = _app(realm, receivers)
    receiver.hold.clear()  # the application accepts the connection and never answers
    settings = realm.server.app.extensions["idp.settings"]
    saved, settings.backchannel_logout_timeout = settings.backchannel_logout_timeout, 1
    try:
        browser, _ = sign_in_for_tokens(realm, client, user.email, user.password)
        out = _account_sign_out(realm, browser)  # answers while nobody has called it yet
        assert out.status == 200 and not receiver.arrived.is_set()
        result = _deliver(realm)
    finally:
        settings.backchannel_logout_timeout = saved
        receiver.hold.set()
    assert result == ["pending"] and receiver.arrived.is_set()
    (attempt,) = _attempts(realm)
    assert attempt.outcome == "retrying" and "no answer within 1 s" in attempt.result


def test_a_redirect_is_not_followed(realm, receivers):
    user = realm.user()
    _rp, client, receiver = _app(realm, receivers)
    elsewhere = LogoutReceiver(realm.issuer)
    receivers.append(elsewhere)
    receiver.status, receiver.location = 307, elsewhere.uri
    browser, _ = sign_in_for_tokens(realm, client, user.email, user.password)
    _account_sign_out(realm, browser)
    assert _deliver(realm) == ["pending"]
    assert elsewhere.received == []
    (attempt,) = _attempts(realm)
    assert attempt.result == "HTTP 307 (redirects are not followed)"


def test_a_uri_removed_before_delivery_is_not_called(realm, receivers):
    user = realm.user()
    rp, client, receiver = _app(realm, receivers)
    browser, _ = sign_in_for_tokens(realm, client, user.email, user.password)
    _account_sign_out(realm, browser)
    done = run_idp(
        realm.server, "client", "set", rp.client_id, "--backchannel-logout-uri", "",
        "--realm", realm.name,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _deliver(realm) == ["sent"]
    assert receiver.received == []
    (attempt,) = _attempts(realm)
    assert "no longer has a back-channel logout URI" in attempt.result


@pytest.mark.settings(callback_private_addresses="refuse")
def test_with_private_addresses_refused_a_loopback_uri_is_never_called(realm, receivers):
    """The production setting (SSRF): a registered URI that resolves to a loopback or
    private address is refused, at once and for good, and the application never called."""
    user = realm.user()
    _rp, client, receiver = _app(realm, receivers)
    browser, _ = sign_in_for_tokens(realm, client, user.email, user.password)
    _account_sign_out(realm, browser)
    assert _deliver(realm) == ["failed"]
    assert receiver.received == []
    (message,) = _messages(realm)
    assert (message.status, message.attempts) == ("failed", 1)
    (attempt,) = _attempts(realm)
    assert "non-public address" in attempt.result


def test_private_addresses_are_refused_by_default_in_production_only(tmp_path):
    assert load_settings({"instance_path": str(tmp_path)}).callback_private_addresses == "allow"
    production = load_settings(
        {
            "instance_path": str(tmp_path),
            "env": "production",
            "base_url": "https://id.example.com",
            "secret_key": "k" * 40,
            "data_keys": [load_settings({"instance_path": str(tmp_path)}).data_keys[0]],
            "code_pepper": "p" * 40,
        }
    )
    assert production.callback_private_addresses == "refuse"
    with pytest.raises(ConfigError):
        load_settings({"instance_path": str(tmp_path), "callback_private_addresses": "maybe"})


# -- registration and discovery -------------------------------------------------------------------
def test_discovery_says_both_logouts_are_supported_with_sessions(realm):
    meta = requests.get(f"{realm.issuer}/.well-known/openid-configuration", timeout=10).json()
    for name in (
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ):
        assert meta[name] is True, name


def test_the_cli_registers_changes_and_removes_the_logout_uris(realm):
    added = run_idp(
        realm.server, "client", "add", "--name", "Shop", "--realm", realm.name, "--json",
        "--redirect-uri", "https://shop.example/cb",
        "--backchannel-logout-uri", "https://shop.example/bcl",
        "--backchannel-logout-session-required",
        "--frontchannel-logout-uri", "https://shop.example/fcl",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["backchannel_logout_uri"] == "https://shop.example/bcl"
    assert data["backchannel_logout_session_required"] is True
    assert data["frontchannel_logout_uri"] == "https://shop.example/fcl"
    assert data["frontchannel_logout_session_required"] is False
    client_id = data["client_id"]

    changed = run_idp(
        realm.server, "client", "set", client_id, "--realm", realm.name, "--json",
        "--backchannel-logout-uri", "", "--frontchannel-logout-session-required",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    data = json.loads(changed.stdout)
    assert data["backchannel_logout_uri"] is None
    assert data["frontchannel_logout_session_required"] is True

    def row(db: Any) -> Any:
        found = find_client(db, realm.row(db), client_id)
        return (found.backchannel_logout_uri, found.frontchannel_logout_session_required)

    assert in_app(realm, row) == (None, True)


@pytest.mark.parametrize(
    "option, uri",
    [
        ("--backchannel-logout-uri", "ftp://shop.example/bcl"),
        ("--backchannel-logout-uri", "https://shop.example/bcl#frag"),
        ("--backchannel-logout-uri", "/relative"),
        ("--frontchannel-logout-uri", "https://elsewhere.example/fcl"),
    ],
)
def test_the_cli_refuses_a_bad_logout_uri_with_a_clear_error(realm, option, uri):
    done = run_idp(
        realm.server, "client", "add", "--name", "Shop", "--realm", realm.name,
        "--redirect-uri", "https://shop.example/cb", option, uri,
    )  # fmt: skip
    assert done.returncode != 0
    assert uri[:20] in done.stderr and "Traceback" not in done.stderr


def test_a_refused_connection_is_recorded_as_such_not_as_a_timeout(realm, receivers):
    """Regression: urllib3 makes a refused connection a kind of connect timeout, and the
    delivery said "no answer within 5 s" for an application that is not running."""
    user = realm.user()
    _rp, client, receiver = _app(realm, receivers)
    browser, _ = sign_in_for_tokens(realm, client, user.email, user.password)
    receiver.stop()  # nothing listens on its port any more
    _account_sign_out(realm, browser)
    assert _deliver(realm) == ["pending"]
    (attempt,) = _attempts(realm)
    assert attempt.result.startswith("connection failed"), attempt.result
    assert "no answer" not in attempt.result


def test_v1_a_code_of_a_session_that_ended_before_its_exchange_gets_no_tokens(realm, receivers):
    """SPEC V1 (a sign-in whose session ended cannot finish), and a regression: a code
    issued just before the session ended was still exchanged for tokens, which outlived the
    session and which single sign-out never told the client about (it had not signed in to
    the session yet)."""
    user = realm.user()
    rp, client, receiver = _app(realm, receivers)
    browser, _ = sign_in_for_tokens(realm, client, user.email, user.password)
    flow = client.start()
    browser.get(flow.url)  # single sign-on: a new code, straight back to the application
    code = browser.callback_params()["code"]
    _account_sign_out(realm, browser)
    answer = requests.post(
        client.meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": flow.verifier,
        },
        auth=(rp.client_id, rp.client_secret),
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text
