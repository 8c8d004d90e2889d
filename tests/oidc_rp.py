"""A relying party built on Authlib's OAuth2 client: discovery, authorize URL, code exchange
and ID-token verification against the realm's JWKS (as a real app would do it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from idp import clock
from tests.helpers import Browser


@dataclass
class Flow:
    session: OAuth2Session
    state: str
    nonce: str
    verifier: str
    url: str


class RP:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        redirect_uri: str,
        scope: str = "openid profile email offline_access",
    ) -> None:
        self.issuer = issuer
        self.meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scope = scope

    def session(self) -> OAuth2Session:
        kwargs: dict[str, Any] = {}
        if self.client_secret is None:
            kwargs["token_endpoint_auth_method"] = "none"
        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope=self.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            **kwargs,
        )

    def start(self, **params: Any) -> Flow:
        sess = self.session()
        nonce = generate_token(20)
        verifier = generate_token(48)
        url, state = sess.create_authorization_url(
            self.meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier, **params
        )
        return Flow(sess, state, nonce, verifier, url)

    def finish(self, flow: Flow, browser: Browser) -> dict[str, Any]:
        assert browser.left_to and browser.left_to.startswith(self.redirect_uri), browser.left_to
        token = flow.session.fetch_token(
            self.meta["token_endpoint"],
            authorization_response=browser.left_to,
            code_verifier=flow.verifier,
            state=flow.state,
        )
        return dict(token)

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 introspection, authenticated as this (confidential) client."""
        resp = requests.post(
            self.meta["introspection_endpoint"],
            data={"token": token},
            auth=(self.client_id, self.client_secret or ""),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(requests.get(self.meta["jwks_uri"], timeout=10).json())

    def verify_id_token(self, id_token: str, nonce: str | None = None) -> dict[str, Any]:
        token = jwt.decode(id_token, self.jwks())
        # The relying party reads the same clock as the provider, so a test that moves the
        # provider's clock (idp.clock.travel) does not see tokens "issued in the future".
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(clock.timestamp()),
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            auth_time={"essential": True},
            **({"nonce": {"essential": True, "value": nonce}} if nonce else {}),
        )
        registry.validate(token.claims)
        return dict(token.claims)

    def verify_access_token(self, access_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        token = jwt.decode(access_token, self.jwks())
        return dict(token.header), dict(token.claims)


def sign_in_password(browser: Browser, url: str, email: str, password: str):
    page = browser.get(url)
    assert page.status == 200, page.text
    return browser.submit(page, {"email": email, "password": password})
