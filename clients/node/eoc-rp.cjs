// A web application protected by express-openid-connect (Auth0's Express middleware, on
// openid-client), with OpenID Connect Back-Channel Logout 1.0 turned on: the library answers
// POST /backchannel-logout itself, checks the logout token by its own rules (signature
// against the provider's JWKS, iss, aud, the events member, no nonce, sub or sid) and
// remembers the ended session (sid) and user (sub) in the store below, so that the next
// request of a session it names needs a new sign-in.
//
// Usage: node eoc-rp.cjs ISSUER CLIENT_ID CLIENT_SECRET PORT
// Register the client with the redirect URI http://127.0.0.1:PORT/callback, the
// post-logout redirect URI http://127.0.0.1:PORT/signed-out and the back-channel logout URI
// http://127.0.0.1:PORT/backchannel-logout. Prints one JSON line when it listens.
//   GET /me          the signed-in user's ID-token claims as JSON (signs in first)
//   GET /step-up     signs in again (prompt=login; ?max_age: max_age=0), then back to /me
//   GET /logout      the library's logout: RP-initiated logout at the provider
//   GET /signed-out  a public page
'use strict';

const crypto = require('node:crypto');
const express = require('express');
const { auth, requiresAuth } = require('express-openid-connect');

const [issuer, clientID, clientSecret, port] = process.argv.slice(2);
if (!port) {
  process.stderr.write('usage: node eoc-rp.cjs ISSUER CLIENT_ID CLIENT_SECRET PORT\n');
  process.exit(2);
}
const baseURL = `http://127.0.0.1:${port}`;

// The back-channel logout store: what the library needs (get/set/destroy), in memory. A real
// deployment with several processes uses a shared one (Redis, the session store...).
const entries = new Map();
const store = {
  async get(key) {
    const entry = entries.get(key);
    if (entry && entry.cookie && entry.cookie.expires < Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  },
  async set(key, value) {
    entries.set(key, value);
  },
  async destroy(key) {
    entries.delete(key);
  },
};

const app = express();
app.use(
  auth({
    issuerBaseURL: issuer,
    baseURL,
    clientID,
    clientSecret,
    secret: crypto.randomBytes(32).toString('hex'),
    authRequired: false,
    idpLogout: true,
    authorizationParams: { response_type: 'code', scope: 'openid email profile' },
    // Every app of the test runs on 127.0.0.1, and cookies do not tell ports apart.
    session: { name: `appSession_${port}` },
    transactionCookie: { name: `auth_verification_${port}` },
    routes: { postLogoutRedirect: '/signed-out' },
    backchannelLogout: { store },
  }),
);

app.get('/me', requiresAuth(), (req, res) => {
  res.json(req.oidc.idTokenClaims);
});

// A new sign-in for this app: prompt=login, or max_age=0 with ?max_age (the library then
// checks the ID token's auth_time).
app.get('/step-up', (req, res) =>
  res.oidc.login({
    returnTo: '/me',
    authorizationParams: 'max_age' in req.query ? { max_age: 0 } : { prompt: 'login' },
  }),
);

app.get('/signed-out', (req, res) => {
  res.type('text/plain').send('signed out\n');
});

// The library's errors (a failed callback...) as JSON, for the test's messages.
app.use((err, req, res, next) => {
  void next;
  res.status(err.status || 500).json({ error: err.message, status: err.status || 500 });
});

const server = app.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ listening: baseURL, clientID }) + '\n');
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
