/**
 * Fencing: the highest lease token this host has seen per app, and the one check every fenced control message
 * passes (`admit`): a token older than the one held is refused with `lease.stale`, any other becomes the held
 * one. This is the only place tokens are compared or raised; the inventory reports them through `held`. It must
 * not dispatch, reply or know about slots.
 */
import { CutoverError } from '../errors';

/** The lease tokens one host holds, per app. */
export class Fencing {
  private readonly tokens = new Map<string, number>();

  constructor(private readonly hostId: string) {}

  /** Throws `lease.stale` when `token` is older than the one held for `app`; otherwise holds `token`. */
  admit(app: string, token: number): void {
    const held = this.tokens.get(app) ?? 0;
    if (token < held) {
      throw new CutoverError('lease.stale', `lease token ${token} for app "${app}" is older than ${held}`, {
        hostId: this.hostId,
      });
    }
    this.tokens.set(app, token);
  }

  /** `host.fence`: holds `token` for `app` unless a higher one is held; returns the token now held. */
  raise(app: string, token: number): number {
    const held = Math.max(this.tokens.get(app) ?? 0, token);
    this.tokens.set(app, held);
    return held;
  }

  /** The token held for `app` (0 before any fenced message). */
  token(app: string): number {
    return this.tokens.get(app) ?? 0;
  }

  /** Every app's held token, as the inventory reports it. */
  held(): Record<string, number> {
    return Object.fromEntries(this.tokens);
  }
}
