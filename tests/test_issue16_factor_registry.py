"""Issue 16: second factors are a registry. Every registered factor is checked in the same
frame (the shared second-factor throttle, SPEC L6; the audit of a failure; the lock-out mail),
and a factor the code has never heard of, registered by this test alone, is set up, asked,
throttled, audited and removed by the same functions the pages and the console call, without
any other module knowing its name. With a kind-switch in ``verify_second_factor`` or a fixed
list of factor types in ``has_second_factor``, the second half fails."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from idp import assurance
from idp.db import get_session
from idp.models import AuditEvent, Authenticator, Realm, User
from idp.services import factors, security_keys
from idp.services.errors import InvalidCode, TooManyAttempts
from idp.services.factors import AuditLabels, Enrolment, SecondFactor, registry
from idp.services.factors.security_keys import add_security_key
from tests.helpers import Browser, Page, totp_code
from tests.support.app_db import in_app
from tests.support.signin import make_rp
from tests.support.soft_key import SoftKey, page_options

pytestmark = pytest.mark.settings(localhost=True)

LOCKOUT_SUBJECT = "Someone is trying to sign in to your account"
FREE = 5  # SPEC L6: five failures in a row, then the wait


def _events(realm: Any, user_id: int, kind: str) -> list[AuditEvent]:
    def find(db: Any) -> list[AuditEvent]:
        user = db.get(User, user_id)
        rows = db.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.realm_id == realm.id,
                AuditEvent.type == kind,
                AuditEvent.subject == user.email,
            )
            .order_by(AuditEvent.id)
        ).all()
        db.expunge_all()
        return list(rows)

    return in_app(realm, find)


def _give_key(realm: Any, user: Any) -> SoftKey:
    """Register a software security key for ``user`` through the account flow's service."""
    key = SoftKey(realm.base)

    def add(db: Any) -> None:
        realm_row, user_row = db.get(Realm, realm.id), db.get(User, user.id)
        binding = security_keys.session_binding("issue16")
        options = security_keys.registration_options(db, realm_row, user_row, binding=binding)
        response = key.create(json.loads(options))
        add_security_key(
            db,
            realm_row,
            user_row,
            response,
            "Key",
            binding=binding,
            client_address=None,
            keep_sid=None,
        )

    in_app(realm, add)
    return key


def _to_page(realm: Any, rp: Any, user: Any, path: str) -> tuple[Browser, Page]:
    browser = realm.browser()
    flow = make_rp(realm, rp).start()
    page = browser.submit(browser.get(flow.url), {"email": user.email, "password": user.password})
    assert page.status == 200, page.text
    if not page.url.endswith(path):
        page = browser.get(page.url.rsplit("/", 1)[0] + path)
    assert page.status == 200 and page.url.endswith(path), (page.url, page.text)
    return browser, page


def _wrong_totp(browser: Browser, page: Page, user: Any) -> Page:
    near = {totp_code(user.totp_secret, k) for k in range(-3, 4)}
    return browser.submit(page, {"code": next(c for c in ("000000", "999999") if c not in near)})


def _wrong_backup_code(browser: Browser, page: Page, user: Any) -> Page:
    return browser.submit(page, {"code": "1234-5678"})


def _wrong_key(browser: Browser, page: Page, user: Any) -> Page:
    """A response to the page's own challenge, signed by a key that is not the user's."""
    stranger = SoftKey(browser.home)
    return browser.submit(page, {"credential": stranger.get(page_options(page.text))})


# Each built-in kind: its sign-in page, how the user gets one wrong, and what the user needs.
KINDS = {
    "totp": ("/totp", _wrong_totp),
    "backup_code": ("/backup-code", _wrong_backup_code),
    "webauthn": ("/security-key", _wrong_key),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_wrong_answer_of_every_kind_is_throttled_and_audited_by_one_frame(
    kind, realm, rp, mailbox
):
    """Five wrong answers on any factor's page: 401 each, one ``login.second_factor.failed``
    each with the same detail (the factor's method, the reason, the count in a row), one
    lock-out mail when the wait starts; the sixth is refused unchecked (429, ``Retry-After``,
    ``login.throttled``)."""
    user = realm.user(with_totp=kind != "webauthn")
    if kind == "webauthn":
        _give_key(realm, user)
    path, wrong = KINDS[kind]
    browser, page = _to_page(realm, rp, user, path)
    for _ in range(FREE):
        page = wrong(browser, page, user)
        assert page.status == 401, page.text
    refused = wrong(browser, page, user)
    assert refused.status == 429 and refused.url.endswith(path), refused.text

    failed = _events(realm, user.id, "login.second_factor.failed")
    assert [e.detail["method"] for e in failed] == [kind] * FREE
    assert [e.detail["failures_in_row"] for e in failed] == list(range(1, FREE + 1))
    assert all(e.outcome == "failure" and e.detail["reason"] for e in failed)
    (throttled,) = _events(realm, user.id, "login.throttled")
    assert throttled.detail == {"stage": "second_factor", "retry_after": 30}
    assert [m.subject for m in mailbox.to(user.email) if LOCKOUT_SUBJECT in m.subject] == [
        f"{LOCKOUT_SUBJECT} (Test {realm.name})"
    ]


# -- a factor only this test knows ---------------------------------------------------------------
PIN_TYPE = "test_pin"


class Pin(SecondFactor):
    """A made-up factor: a PIN kept in the one ``Authenticator`` table (in clear: a test)."""

    kind = PIN_TYPE
    row_type = PIN_TYPE
    amr = (assurance.OTP, assurance.MFA)
    labels = AuditLabels(method=PIN_TYPE, enabled="mfa.test_pin.enabled")

    def _row(self, db: Any, user: User) -> Authenticator | None:
        return db.scalar(
            select(Authenticator).where(
                Authenticator.user_id == user.id,
                Authenticator.type == PIN_TYPE,
                Authenticator.status == "active",
            )
        )

    def is_set_up(self, db: Any, user: User) -> bool:
        return self._row(db, user) is not None

    def verify(
        self,
        db: Any,
        realm: Realm,
        user: User,
        response: object,
        *,
        binding: str,
        client_address: str | None,
    ) -> tuple[str, ...]:
        row = self._row(db, user)
        if row is None or not isinstance(response, str):
            raise InvalidCode("no pin")
        if not hmac.compare_digest(response.encode(), (row.secret_encrypted or "").encode()):
            raise InvalidCode("wrong pin")
        return self.amr

    def enrol(
        self,
        db: Any,
        realm: Realm,
        user: User,
        response: object,
        *,
        binding: str,
        name: object,
    ) -> Enrolment:
        row = Authenticator(
            realm_id=user.realm_id, user_id=user.id, type=PIN_TYPE, secret_encrypted=str(response)
        )
        db.add(row)
        db.flush()
        return Enrolment(row=row, amr=self.amr, detail={"name": str(name)})


@pytest.fixture
def pin() -> Iterator[Pin]:
    factor = registry.register(Pin())
    assert isinstance(factor, Pin)
    yield factor
    registry.unregister(PIN_TYPE)


def test_a_factor_registered_by_the_test_alone_is_a_second_factor_everywhere(app, realm, pin):
    user = realm.user()
    with app.app_context():
        db = get_session()
        realm_row, row = db.get(Realm, realm.id), db.get(User, user.id)
        assert pin in registry.all() and registry.get(PIN_TYPE) is pin
        assert not factors.has_second_factor(db, row)

        # Enrolled through the shared frame: 2FA turns on with the first backup codes.
        enabled = factors.enable_factor(
            db,
            realm_row,
            row,
            pin,
            "2468",
            name="desk",
            actor="test",
            client_address=None,
            keep_sid=None,
        )
        db.commit()
        assert enabled.codes is not None and len(enabled.codes) == 10
        assert factors.has_second_factor(db, row)
        assert factors.two_factor_status(db, row).enabled

        # Asked at sign-in by its kind; a backup code now stands in for it too.
        amr = factors.verify_second_factor(
            db, realm_row, row, "2468", kind=PIN_TYPE, client_address="192.0.2.1"
        )
        assert amr == ["otp", "mfa"]
        assert factors.verify_second_factor(
            db, realm_row, row, enabled.codes[0], kind="backup_code", client_address=None
        ) == list(assurance.BY_BACKUP_CODE)
        db.commit()

        # Wrong answers are throttled and audited as any factor's are.
        for _ in range(FREE):
            with pytest.raises(InvalidCode):
                factors.verify_second_factor(
                    db, realm_row, row, "1357", kind=PIN_TYPE, client_address=None
                )
            db.commit()
        with pytest.raises(TooManyAttempts) as wait:
            factors.verify_second_factor(
                db, realm_row, row, "2468", kind=PIN_TYPE, client_address=None
            )
        db.commit()
        assert wait.value.retry_after == 30

    (enabled_event,) = _events(realm, user.id, "mfa.test_pin.enabled")
    assert enabled_event.detail == {"name": "desk", "first_factor": True}
    assert len(_events(realm, user.id, "mfa.backup_codes.issued")) == 1
    failed = _events(realm, user.id, "login.second_factor.failed")
    assert [(e.detail["method"], e.detail["reason"]) for e in failed] == [
        (PIN_TYPE, "InvalidCode")
    ] * FREE

    # The user's Disable removes it with the rest.
    with app.app_context():
        db = get_session()
        row = db.get(User, user.id)
        assert factors.disable_two_factor(db, row, client_address=None)
        db.commit()
        assert not factors.has_second_factor(db, row)


def test_an_unregistered_kind_is_refused(app, realm):
    user = realm.user(with_totp=True)
    with app.app_context():
        db = get_session()
        with pytest.raises(ValueError, match=PIN_TYPE):
            factors.verify_second_factor(
                db,
                db.get(Realm, realm.id),
                db.get(User, user.id),
                "2468",
                kind=PIN_TYPE,
                client_address=None,
            )
        db.rollback()
