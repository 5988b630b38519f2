// A real WebSocket server (the `ws` package) on a free loopback port that records every text message.
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

interface WsSocket {
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'close', listener: () => void): void;
}
interface WsServer {
  on(event: 'connection', listener: (socket: WsSocket) => void): void;
  on(event: 'listening' | 'error', listener: (error?: Error) => void): void;
  address(): AddressInfo;
  close(callback?: () => void): void;
}
interface WsModule {
  WebSocketServer: new (options: { host: string; port: number }) => WsServer;
}

// `ws` ships no types of its own and `@types/ws` is not installed; this is the slice the tests use.
const { WebSocketServer } = createRequire(import.meta.url)('ws') as WsModule;

export interface RecordingServer extends AsyncDisposable {
  readonly url: string;
  /** Every message received so far, parsed as JSON. */
  readonly messages: unknown[];
  /** Resolves with the first message (past or future) that satisfies `match`. */
  waitFor(match: (message: unknown) => boolean): Promise<unknown>;
  /** Resolves when the first client connection closes. */
  readonly clientClosed: Promise<void>;
}

export async function startRecordingServer(): Promise<RecordingServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve, reject) => {
    server.on('listening', () => resolve());
    server.on('error', (e) => reject(e));
  });
  const messages: unknown[] = [];
  const waiters: { match: (m: unknown) => boolean; resolve: (m: unknown) => void }[] = [];
  let onClosed: () => void = () => {};
  const clientClosed = new Promise<void>((resolve) => {
    onClosed = resolve;
  });
  server.on('connection', (socket) => {
    socket.on('message', (data) => {
      const message: unknown = JSON.parse(data.toString('utf8'));
      messages.push(message);
      for (const w of waiters.filter((w) => w.match(message))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(message);
      }
    });
    socket.on('close', () => onClosed());
  });
  return {
    url: `ws://127.0.0.1:${server.address().port}`,
    messages,
    clientClosed,
    waitFor(match) {
      const seen = messages.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    async [Symbol.asyncDispose]() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
