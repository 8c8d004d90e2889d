"""The OpenID Connect protocol, owned by Authlib; this package only supplies storage hooks,
claims and discovery."""
