// What one HTTP request becomes for the component behind an http-server link: the body read up to a limit
// (413 beyond it), one `context.invoke` of the configured operation, and the reply as 200 or the error as
// 404/500/503 with its code. It owns that mapping only; it must not touch sockets, connections or links
// (`httpServerListeners.ts`, `httpServerProvider.ts`).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CutoverError, type ProviderContext, toCutoverError } from 'cutover';

/** Options of {@link createRequestHandler}. */
export interface RequestHandlerOptions {
  /** Component operation each request invokes. */
  operation: string;
  /** Largest request body accepted; larger gets 413. */
  maxBodyBytes: number;
}

/** Serves one request by invoking component `componentId`. */
export type RequestHandler = (componentId: string, req: IncomingMessage, res: ServerResponse) => Promise<void>;

function statusOf(error: CutoverError): number {
  if (error.code === 'invoke.notFound') return 404;
  return error.retryable ? 503 : 500;
}

/** A {@link RequestHandler} that invokes components through `context`. */
export function createRequestHandler(context: ProviderContext, options: RequestHandlerOptions): RequestHandler {
  const { operation, maxBodyBytes } = options;
  return async (componentId, req, res) => {
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.byteLength;
        if (size > maxBodyBytes) {
          res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
          res.end(JSON.stringify({ code: 'invoke.failed', message: `request body over ${maxBodyBytes} bytes` }));
          return;
        }
        chunks.push(chunk);
      }
      const reply = await context.invoke(componentId, operation, new Uint8Array(Buffer.concat(chunks, size)));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': reply.byteLength });
      res.end(reply);
    } catch (cause) {
      const error = toCutoverError(cause, 'invoke.failed');
      if (res.headersSent) {
        res.destroy(error);
        return;
      }
      const status = statusOf(error);
      res.writeHead(status, {
        'content-type': 'application/json',
        'x-cutover-error': error.code,
        ...(status === 503 ? { 'retry-after': '1' } : {}),
      });
      res.end(JSON.stringify({ code: error.code, message: error.message }));
    }
  };
}
