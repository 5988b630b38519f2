import { CutoverError, hasCode, isErrorCode, toCutoverError } from '../errors';
import { ErrorReply, PROTOCOL_VERSION } from '../protocol/messages';
import type { Transport } from '../ports/transport';
import { subjects } from '../protocol/subjects';
import { parseJson } from '../protocol/decode';

// Invocation replies carry arbitrary bytes, so a one-byte tag tells a payload (0) from an ErrorReply (1).
const OK = 0;
const ERR = 1;
const encoder = new TextEncoder();

/** Wire form of a successful invocation: tag 0 then the payload. */
export function encodeInvokeOk(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = OK;
  out.set(payload, 1);
  return out;
}

/** Wire form of a refused or failed invocation: tag 1 then an ErrorReply as JSON. */
export function encodeInvokeError(error: unknown): Uint8Array {
  const e = toCutoverError(error);
  const body = encoder.encode(
    JSON.stringify({
      type: 'error',
      version: PROTOCOL_VERSION,
      code: e.code,
      message: e.message,
      retryable: e.retryable,
    }),
  );
  const out = new Uint8Array(body.length + 1);
  out[0] = ERR;
  out.set(body, 1);
  return out;
}

/** The payload of an invocation reply, or the CutoverError it carries. */
export function decodeInvokeReply(data: Uint8Array): Uint8Array {
  if (data[0] === OK) return data.subarray(1);
  if (data[0] === ERR) {
    const reply = ErrorReply.parse(parseJson(data.subarray(1), 'invocation reply'));
    const code = isErrorCode(reply.code) ? reply.code : 'invoke.failed';
    throw new CutoverError(code, reply.message, { retryable: reply.retryable });
  }
  throw new CutoverError('message.invalid', 'invalid invocation reply: unknown tag');
}

/** Options of {@link invokeRemote}. */
export interface RemoteInvokeOptions {
  /** How long to wait for the reply (default 5000 ms). */
  readonly timeoutMs?: number;
  /**
   * Blue-green preview: send the call to a standby of the component (subject `subjects.invokePreview`) instead
   * of the serving version; refused with `invoke.notFound` when no host holds a standby.
   */
  readonly preview?: boolean;
}

/**
 * Invokes a component anywhere in the lattice (one host of its queue group answers); the last argument is a
 * timeout in ms or {@link RemoteInvokeOptions}.
 * @example
 * const bytes = await invokeRemote(transport, 'default', 'api', 'handle', payload)
 * const fromStandby = await invokeRemote(transport, 'default', 'api', 'handle', payload, { preview: true })
 */
export async function invokeRemote(
  transport: Transport,
  lattice: string,
  componentId: string,
  operation: string,
  payload: Uint8Array,
  options: number | RemoteInvokeOptions = 5_000,
): Promise<Uint8Array> {
  const { timeoutMs = 5_000, preview = false } = typeof options === 'number' ? { timeoutMs: options } : options;
  if (!preview) {
    const reply = await transport.request(subjects.invoke(lattice, componentId, operation), payload, { timeoutMs });
    return decodeInvokeReply(reply);
  }
  let reply: Uint8Array;
  try {
    reply = await transport.request(subjects.invokePreview(lattice, componentId, operation), payload, { timeoutMs });
  } catch (error) {
    // Only hosts holding a standby listen on the preview subject, so nobody listening means there is no standby.
    if (hasCode(error, 'transport.noResponders')) {
      throw new CutoverError('invoke.notFound', `component "${componentId}" has no standby in lattice "${lattice}"`, {
        componentId,
        cause: error,
      });
    }
    throw error;
  }
  return decodeInvokeReply(reply);
}
