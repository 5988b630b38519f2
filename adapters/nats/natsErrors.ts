import {
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { CutoverError, type ErrorCode, isCutoverError } from 'cutover';

/** Walks an error and its causes, nearest first. */
function* causes(err: unknown): Generator<unknown> {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    yield current;
    current = current instanceof Error ? current.cause : undefined;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True for the nats.js errors that mean the client has no server right now (closed, draining, reconnecting). */
export function isConnectionGone(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e instanceof ClosedConnectionError || e instanceof DrainingConnectionError) return true;
    if (e instanceof RequestError && /connection (closed|disconnected)/.test(e.message)) return true;
    if (e instanceof Error && /connection (closed|draining|disconnected)/i.test(e.message)) return true;
  }
  return false;
}

/** True when the server refused an operation by its authorization rules. */
export function isPermissionViolation(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e instanceof PermissionViolationError) return true;
    if (e instanceof Error && /permissions? violation/i.test(e.message)) return true;
  }
  return false;
}

/** Maps a nats.js request/publish failure to the transport codes of docs/wire.md. */
export function toTransportError(
  err: unknown,
  subject: string,
  fallback: ErrorCode = 'transport.closed',
): CutoverError {
  if (isCutoverError(err)) return err;
  for (const e of causes(err)) {
    if (e instanceof NoRespondersError) {
      return new CutoverError('transport.noResponders', `no responders on "${subject}"`, { cause: err, subject });
    }
    if (e instanceof TimeoutError) {
      return new CutoverError('transport.timeout', `request on "${subject}" timed out`, { cause: err, subject });
    }
  }
  if (isPermissionViolation(err)) {
    return new CutoverError('transport.closed', `permission denied on "${subject}"`, {
      cause: err,
      subject,
      retryable: false,
    });
  }
  if (isConnectionGone(err)) {
    // A disconnect (the client is reconnecting) is worth retrying; a closed connection is not.
    const retryable = /disconnected/.test(messageOf(err));
    return new CutoverError('transport.closed', `connection ${retryable ? 'disconnected' : 'closed'} on "${subject}"`, {
      cause: err,
      subject,
      retryable,
    });
  }
  return new CutoverError(fallback, `${messageOf(err).toLowerCase()} on "${subject}"`, { cause: err, subject });
}
