"""Blueprints: protocol (OIDC endpoints), login (hosted sign-in), account, admin."""
