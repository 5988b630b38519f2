// Permission violations as a NATS client sees them: the server's `-ERR 'Permissions Violation …'` for a
// connection, collected from its status stream so a test can wait for a refusal it provoked.
import { type NatsConnection, PermissionViolationError } from '@nats-io/transport-node';

/** Collects the permission violations the server reports to `nc`, as they arrive. */
export function violations(nc: NatsConnection): PermissionViolationError[] {
  const seen: PermissionViolationError[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && s.error instanceof PermissionViolationError) seen.push(s.error);
    }
  })();
  return seen;
}
