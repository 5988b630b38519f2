import { execFileSync } from 'node:child_process';
import { createSign, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One grant in a registry token (distribution's `access` claim). */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/** A running token realm: what a registry's `auth.token` config needs, plus counters. */
export interface TokenRealm extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/token` */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM file of the self-signed certificate the registry trusts (`rootcertbundle`). */
  readonly certPath: string;
  /** Tokens handed out so far. */
  issued(): number;
  /** Requests refused for bad credentials. */
  refused(): number;
  /** Mints a token directly (for test pushes), as the realm would. */
  mint(access: readonly TokenAccess[]): string;
  close(): Promise<void>;
}

export interface TokenRealmOptions {
  /** Accounts allowed to log in; when absent anyone (and anonymous) gets pull+push tokens. */
  users?: Readonly<Record<string, string>>;
  service?: string;
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

function requireOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    throw new Error('openssl not found: the token realm needs it for its certificate (apt-get install -y openssl)');
  }
}

/**
 * A tiny bearer-token server for docker-registry's token auth: a fresh RSA key and self-signed certificate
 * (made with the `openssl` CLI; Node cannot write X.509), JWTs signed RS256 with the cert in `x5c`.
 */
export async function startTokenRealm(options: TokenRealmOptions = {}): Promise<TokenRealm> {
  requireOpenssl();
  const dir = await mkdtemp(join(tmpdir(), 'cutover-realm-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=cutover-token-realm',
    ],
    { stdio: 'ignore' },
  );
  const key = await readFile(keyPath, 'utf8');
  const certDer = new X509Certificate(await readFile(certPath)).raw;
  const service = options.service ?? 'cutover-test-registry';
  const issuer = 'cutover-test-realm';
  let issued = 0;
  let refused = 0;

  const mint = (access: readonly TokenAccess[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: issuer,
      sub: 'cutover',
      aud: service,
      exp: now + 3600,
      nbf: now - 60,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const body = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(body).sign(key);
    return `${body}.${b64url(signature)}`;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://realm');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    if (options.users) {
      const [scheme, encoded] = (req.headers.authorization ?? '').split(' ');
      const [user, pass] = Buffer.from(encoded ?? '', 'base64')
        .toString()
        .split(':');
      if (scheme !== 'Basic' || user === undefined || options.users[user] !== pass) {
        refused += 1;
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
    }
    const access = url.searchParams.getAll('scope').flatMap((scope): TokenAccess[] => {
      const [type, name, actions] = scope.split(':');
      return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
    });
    issued += 1;
    const token = mint(access);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: 3600 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  };
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    issued: () => issued,
    refused: () => refused,
    mint,
    close,
    [Symbol.asyncDispose]: close,
  };
}
