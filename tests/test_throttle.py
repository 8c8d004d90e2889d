"""The throttle's memory: password counters decay after an hour without failures (a shared
office address is not locked out for ever by old typos); the second-factor counter does not
decay, it counts wrong codes in a row until a success (SPEC L6)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from idp.db import get_session, utcnow
from idp.services import throttle
from idp.services.errors import TooManyAttempts


def test_password_address_counter_decays_after_an_hour(app):
    key = throttle.password_address_key(f"192.0.2.{secrets.randbelow(250)}-{secrets.token_hex(3)}")
    t0 = utcnow()
    with app.app_context():
        db = get_session()
        for _ in range(throttle.PASSWORD_ADDRESS.free):
            throttle.record_failure(db, key, throttle.PASSWORD_ADDRESS, now=t0)
        db.commit()
        with pytest.raises(TooManyAttempts):
            throttle.check_allowed(db, key, now=t0)
        later = t0 + timedelta(hours=2)
        throttle.check_allowed(db, key, now=later)
        assert throttle.record_failure(db, key, throttle.PASSWORD_ADDRESS, now=later) == 1
        throttle.check_allowed(db, key, now=later)
        db.commit()


def test_l6_second_factor_counter_counts_in_a_row_without_decay(app):
    key = throttle.second_factor_key(10**9 + secrets.randbelow(10**6))
    t0 = utcnow()
    with app.app_context():
        db = get_session()
        for _ in range(5):
            throttle.record_failure(db, key, throttle.SECOND_FACTOR, now=t0)
        month = t0 + timedelta(days=30)
        throttle.check_allowed(db, key, now=month)  # the 30 s wait is long over
        assert throttle.record_failure(db, key, throttle.SECOND_FACTOR, now=month) == 6
        with pytest.raises(TooManyAttempts) as waited:
            throttle.check_allowed(db, key, now=month)
        assert waited.value.retry_after == 60
        throttle.reset(db, key)
        throttle.check_allowed(db, key, now=month)
        db.commit()
