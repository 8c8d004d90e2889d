// oidc-provider 9 as `make bench-compare` runs it: a node cluster of BENCH_WORKERS processes
// on 127.0.0.1:PORT, a client (client_credentials, client_secret_basic) that gets RS256 JWT
// access tokens through resource indicators, and introspection on. oidc-provider refuses to
// introspect its JWT access tokens ("Structured JWT Tokens cannot be introspected"), so a
// second client, BENCH_CLIENT_ID + "-opaque", gets opaque tokens for the introspection row;
// they live in each worker's in-memory store. The primary makes the signing key
// and hands it to every worker, so that all of them sign and verify with the same key.
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3000);
const workers = Number(process.env.BENCH_WORKERS || 1);
const CLIENT_ID = process.env.BENCH_CLIENT_ID || 'bench';
const CLIENT_SECRET = process.env.BENCH_CLIENT_SECRET || 'bench-secret-0123456789abcdef';
const RESOURCE = 'urn:idp:bench';

if (cluster.isPrimary && workers > 1) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  process.env.BENCH_JWK = JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'RS256' });
  for (let i = 0; i < workers; i += 1) cluster.fork();
  cluster.on('exit', (worker, code) => { console.error(`worker ${worker.process.pid} exited ${code}`); });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      for (const worker of Object.values(cluster.workers)) worker.kill();
      process.exit(0);
    });
  }
} else {
  let jwk = process.env.BENCH_JWK && JSON.parse(process.env.BENCH_JWK);
  if (!jwk) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'RS256' };
  }
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [CLIENT_ID, `${CLIENT_ID}-opaque`].map((clientId) => ({
      client_id: clientId,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [jwk] },
    scopes: ['api'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({
          scope: 'api',
          audience: RESOURCE,
          accessTokenTTL: 300,
          accessTokenFormat: client.clientId === CLIENT_ID ? 'jwt' : 'opaque',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  provider.listen(port, '127.0.0.1', () => {
    console.log(`oidc-provider ${process.pid} listening on 127.0.0.1:${port}`);
  });
}
