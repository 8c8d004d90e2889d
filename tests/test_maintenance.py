"""`idp db purge` deletes what can no longer be used and keeps what still can."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from idp.db import get_session, utcnow
from idp.models import AuditEvent, Interaction, SsoSession, Throttle, Token
from idp.services.maintenance import purge_expired
from tests.oidc_rp import RP, sign_in_password


def test_purge_removes_expired_rows_and_keeps_live_ones(realm, rp):
    user = realm.user()
    client = RP(realm.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    old_browser, live_browser = realm.browser(), realm.browser()
    for browser in (old_browser, live_browser):
        flow = client.start()
        sign_in_password(browser, flow.url, user.email, user.password)
        client.finish(flow, browser)
    live_cookie = live_browser.session.cookies.get("IDP_SESSION")
    long_ago = utcnow() - timedelta(days=40)
    with realm.server.app.app_context():
        db = get_session()
        sessions = db.scalars(select(SsoSession).where(SsoSession.realm_id == realm.id)).all()
        assert len(sessions) == 2
        old_sid = next(s.sid for s in sessions if s.id != max(x.id for x in sessions))
        db.execute(update(SsoSession).where(SsoSession.sid == old_sid).values(expires_at=long_ago))
        db.execute(
            update(Token)
            .where(Token.sid == old_sid)
            .values(access_expires_at=long_ago, refresh_expires_at=long_ago)
        )
        db.execute(
            update(Interaction).where(Interaction.realm_id == realm.id).values(expires_at=long_ago)
        )
        db.commit()
        counts = purge_expired(db)
        db.commit()
        assert counts["sso_sessions"] >= 1 and counts["tokens"] >= 1
        assert counts["interactions"] >= 2
        left = db.scalars(select(SsoSession.sid).where(SsoSession.realm_id == realm.id)).all()
        assert old_sid not in left and len(left) == 1
        assert db.scalars(select(AuditEvent).where(AuditEvent.realm_id == realm.id)).first()
    # The live browser is still signed in: prompt=none goes straight back with a code.
    assert live_cookie
    flow = client.start(prompt="none")
    live_browser.get(flow.url)
    assert "code" in live_browser.callback_params()


def test_purge_keeps_second_factor_counters_and_drops_stale_password_ones(app):
    import secrets

    from idp.services import throttle

    tag = secrets.token_hex(4)
    long_ago = utcnow() - timedelta(days=40)
    keys = {
        "pwd": f"pwd:acct:0:{tag}@example.com",
        "mfa": f"2fa:user:{tag}",
        "mfa_cleared": f"2fa:user:{tag}-0",
    }
    with app.app_context():
        db = get_session()
        throttle.record_failure(db, keys["pwd"], throttle.PASSWORD_ACCOUNT, now=long_ago)
        throttle.record_failure(db, keys["mfa"], throttle.SECOND_FACTOR, now=long_ago)
        throttle.record_failure(db, keys["mfa_cleared"], throttle.SECOND_FACTOR, now=long_ago)
        db.execute(update(Throttle).where(Throttle.key == keys["mfa_cleared"]).values(failures=0))
        db.commit()
        purge_expired(db)
        db.commit()
        left = set(db.scalars(select(Throttle.key).where(Throttle.key.in_(keys.values()))))
    assert left == {keys["mfa"]}


def test_purge_drops_old_sent_mail_and_spent_links_and_keeps_pending_mail_and_invitations(
    app, realm
):
    """Issue 9: the outbox and the emailed links don't grow forever; what may still be sent
    or followed, and invitations (shown as expired in the console), stay."""
    from idp.models import ActionToken, OutboxMessage, Realm, User
    from idp.services import action_tokens
    from idp.services.mail import enqueue_mail

    user = realm.user()
    long_ago = utcnow() - timedelta(days=40)
    with app.app_context():
        db = get_session()
        row_realm, row_user = db.get(Realm, realm.id), db.get(User, user.id)
        sent, pending, failed_recent = (
            enqueue_mail(db, row_realm, template="password_changed", user=row_user)
            for _ in range(3)
        )
        tokens = {
            purpose: action_tokens.issue_action_token(
                db, row_user, purpose, ttl_seconds=60, created_by="test"
            ).row
            for purpose in action_tokens.PURPOSES
        }
        db.flush()
        sent.status, sent.sent_at = "sent", long_ago
        failed_recent.status = "failed"
        for token in tokens.values():
            token.expires_at = long_ago
        db.commit()
        counts = purge_expired(db)
        db.commit()
        assert counts["mail"] >= 1 and counts["emailed_links"] >= 2
        left_mail = set(
            db.scalars(select(OutboxMessage.id).where(OutboxMessage.realm_id == realm.id))
        )
        assert left_mail == {pending.id, failed_recent.id}
        left_links = set(
            db.scalars(select(ActionToken.purpose).where(ActionToken.user_id == user.id))
        )
        assert left_links == {action_tokens.INVITATION}
