// A relying party built on openid-client (panva), the certified Node.js OIDC client.
// Protocol on stdin/stdout, one JSON object per line, so a test can drive the browser part:
//   out {authorizationUrl}  <- in {callbackUrl}  -> out {claims, userinfo, refreshed, ...}
// Usage: node rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI [POST_LOGOUT_URI]
import * as client from 'openid-client';
import readline from 'node:readline';

const [issuer, clientId, clientSecret, redirectUri, postLogout] = process.argv.slice(2);
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const receive = async () => JSON.parse((await lines.next()).value);

try {
  const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined,
    { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = { redirect_uri: redirectUri, scope: 'openid profile email offline_access',
    code_challenge: challenge, code_challenge_method: 'S256', state, nonce };
  const extra = process.env.RP_EXTRA_PARAMS ? JSON.parse(process.env.RP_EXTRA_PARAMS) : {};
  send({ authorizationUrl: client.buildAuthorizationUrl(config, { ...params, ...extra }).href });
  const { callbackUrl } = await receive();
  const tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
    idTokenExpected: true });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const introspection = await client.tokenIntrospection(config, refreshed.access_token);
  await client.tokenRevocation(config, refreshed.refresh_token);
  const endSession = postLogout ? client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogout, state: 'bye' }).href
    : null;
  send({ claims, userinfo, refreshedClaims: refreshed.claims() ?? null,
    refreshedAccessToken: refreshed.access_token, introspection, endSession });
} catch (err) {
  send({ error: String(err), code: err.code ?? null, cause: err.cause ? String(err.cause) : null });
  process.exitCode = 1;
} finally {
  rl.close();
}
