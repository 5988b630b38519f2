import { createHash, randomBytes } from 'node:crypto';
import { type ClientRequest, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';

/** Options of {@link createWebSocketSender}. */
export interface WebSocketSenderOptions {
  /** Messages kept while not connected; the oldest are dropped beyond this. Default 500. */
  readonly maxQueued?: number;
  /** Wait before connecting again after a failure. Default 2000 ms. */
  readonly retryMs?: number;
  /** Called once, on the first failure to connect. */
  readonly onUnavailable?: (reason: string) => void;
}

/** A send-only WebSocket client that never keeps the process alive. */
export interface WebSocketSender {
  /** Sends a text message now, or queues it and connects. Never throws. */
  send(text: string): void;
  /** Closes the connection; later messages are dropped. */
  close(): void;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * A minimal RFC 6455 client (text frames out, nothing in) whose sockets and timers are unref'd, that
 * connects on the first message and reconnects lazily. `ws` and `@statelyai/inspect`'s own adapter keep a
 * ref'd socket and a retry timer that outlives `stop()`, which would keep a finished CLI run alive.
 */
export function createWebSocketSender(url: URL, options: WebSocketSenderOptions = {}): WebSocketSender {
  const maxQueued = options.maxQueued ?? 500;
  const retryMs = options.retryMs ?? 2_000;
  let status: 'idle' | 'connecting' | 'open' | 'waiting' | 'closed' = 'idle';
  let queue: string[] = [];
  let socket: Socket | undefined;
  let req: ClientRequest | undefined;
  let timer: NodeJS.Timeout | undefined;
  let told = false;

  const fail = (r: ClientRequest, reason: string): void => {
    if (req !== r) return; // a late second report of the same failed attempt
    req = undefined;
    if (status === 'closed') return;
    if (!told) {
      told = true;
      options.onUnavailable?.(reason);
    }
    status = 'waiting';
    timer = setTimeout(() => {
      timer = undefined;
      if (status !== 'waiting') return;
      status = 'idle';
      if (queue.length > 0) connect();
    }, retryMs);
    timer.unref();
  };

  const connect = (): void => {
    status = 'connecting';
    const key = randomBytes(16).toString('base64');
    const secure = url.protocol === 'wss:';
    const r = (secure ? httpsRequest : httpRequest)({
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      agent: false,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Version': '13',
      },
    });
    req = r;
    r.on('socket', (s) => s.unref());
    r.on('error', (e) => fail(r, e.message));
    r.on('response', (res) => {
      res.resume();
      fail(r, `no websocket upgrade (http ${res.statusCode ?? '?'})`);
    });
    r.on('upgrade', (res, s) => {
      const expected = createHash('sha1').update(`${key}${GUID}`).digest('base64');
      if (res.headers['sec-websocket-accept'] !== expected) {
        s.destroy();
        fail(r, 'bad websocket handshake');
        return;
      }
      s.unref();
      s.setNoDelay(true);
      if (status === 'closed') {
        s.end(frame(0x8, closePayload()));
        return;
      }
      socket = s;
      req = undefined;
      status = 'open';
      // Only a close frame from the server matters to a sender; anything else is read and ignored.
      s.on('data', (chunk: Buffer) => {
        if (((chunk[0] ?? 0) & 0x0f) === 0x8) s.end();
      });
      s.on('error', () => s.destroy());
      s.on('close', () => {
        if (socket !== s) return;
        socket = undefined;
        if (status === 'open') status = 'idle';
      });
      const pending = queue;
      queue = [];
      for (const text of pending) s.write(frame(0x1, Buffer.from(text, 'utf8')));
    });
    r.end();
  };

  return {
    send(text) {
      if (status === 'closed') return;
      if (status === 'open' && socket !== undefined) {
        socket.write(frame(0x1, Buffer.from(text, 'utf8')));
        return;
      }
      queue.push(text);
      if (queue.length > maxQueued) queue.shift();
      if (status === 'idle') connect();
    },
    close() {
      if (status === 'closed') return;
      status = 'closed';
      queue = [];
      if (timer !== undefined) clearTimeout(timer);
      req?.destroy();
      req = undefined;
      socket?.end(frame(0x8, closePayload()));
      socket = undefined;
    },
  };
}

/** Status 1000 (normal closure). */
function closePayload(): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(1000, 0);
  return b;
}

/** One masked client frame (RFC 6455 §5.2). */
function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const header = Buffer.alloc(len < 126 ? 2 : len < 65_536 ? 4 : 10);
  header[0] = 0x80 | opcode;
  if (len < 126) {
    header[1] = 0x80 | len;
  } else if (len < 65_536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(len, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  const masked = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) masked[i] = (payload[i] ?? 0) ^ (mask[i & 3] ?? 0);
  return Buffer.concat([header, mask, masked]);
}
