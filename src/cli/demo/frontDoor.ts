import { type IncomingMessage, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CutoverError, isErrorCode } from '../../errors';
import type { LoadTarget } from './loadGenerator';

/** A host's HTTP server as the front door sees it. */
export interface FrontDoorTarget {
  hostId: string;
  /** `host:port` the host's HTTP server provider bound. */
  address: string;
}

/** Options of {@link startFrontDoor}. */
export interface FrontDoorOptions {
  /** Local port (127.0.0.1); 0 picks a free one. */
  port: number;
  /** The hosts' HTTP servers right now (they move when a rollout changes the listen address). */
  targets(): FrontDoorTarget[];
}

export interface FrontDoor {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * A small load balancer for `--serve`: one stable local port in front of the hosts' real HTTP servers,
 * round-robin, answering with an `x-cutover-host` header. A connection that fails while connecting (a host
 * between delete and put of its listener) never carried the request, so it is retried on the next host.
 */
export async function startFrontDoor(options: FrontDoorOptions): Promise<FrontDoor> {
  let next = 0;
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const targets = options.targets();
    const attempt = (tries: number) => {
      const target = targets[next++ % Math.max(1, targets.length)];
      if (target === undefined || tries >= targets.length + 1) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('no host is serving\n');
        return;
      }
      const sep = target.address.lastIndexOf(':');
      const upstream = request(
        {
          host: target.address.slice(0, sep),
          port: Number(target.address.slice(sep + 1)),
          method: req.method ?? 'POST',
          path: req.url ?? '/',
          headers: {
            'content-type': req.headers['content-type'] ?? 'application/octet-stream',
            'content-length': body.byteLength,
          },
          agent: false,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, { ...up.headers, 'x-cutover-host': target.hostId });
          up.pipe(res);
        },
      );
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        // Failed while connecting: the request never reached that host, so another host may take it.
        if (!res.headersSent && error.syscall === 'connect') return attempt(tries + 1);
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`${target.hostId}: ${error.message}\n`);
      });
      upstream.end(body);
    };
    attempt(0);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => forward(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new CutoverError(
          'link.failed',
          `cannot serve on 127.0.0.1:${options.port}: ${error.code === 'EADDRINUSE' ? 'address in use' : error.message}`,
        ),
      ),
    );
    server.listen({ host: '127.0.0.1', port: options.port }, () => resolve());
  });
  const info = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${info.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A load target that POSTs each payload to `address` over a fresh real HTTP connection. */
export function httpTarget(id: string, address: () => string | undefined): LoadTarget {
  return {
    id,
    invoke: (payload) =>
      new Promise<Uint8Array>((resolve, reject) => {
        const to = address();
        if (to === undefined) {
          reject(new CutoverError('transport.noResponders', 'the front door is not listening'));
          return;
        }
        const sep = to.lastIndexOf(':');
        const req = request(
          {
            host: to.slice(0, sep),
            port: Number(to.slice(sep + 1)),
            method: 'POST',
            path: '/',
            agent: false,
            headers: { 'content-length': payload.byteLength },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', (error) => reject(new CutoverError('invoke.failed', `http reply broke: ${error.message}`)));
            res.on('end', () => {
              const body = Buffer.concat(chunks);
              if (res.statusCode === 200) {
                resolve(new Uint8Array(body));
                return;
              }
              const header = res.headers['x-cutover-error'];
              const code = typeof header === 'string' && isErrorCode(header) ? header : 'invoke.failed';
              reject(new CutoverError(code, `http ${res.statusCode ?? 0}: ${body.toString('utf8').slice(0, 200)}`));
            });
          },
        );
        req.on('error', (error) =>
          reject(new CutoverError('transport.closed', `http request failed: ${error.message}`)),
        );
        req.end(payload);
      }),
  };
}
