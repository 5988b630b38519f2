import type { ApplyPhase, ComponentStatus } from '../protocol/inventory';

/** A component machine state value as the inventory status and in-flight phase of docs/architecture.md. */
export function statusOf(value: unknown): { status: ComponentStatus; phase: ApplyPhase | undefined } {
  const top = typeof value === 'string' ? value : Object.keys(value as Record<string, unknown>)[0];
  switch (top) {
    case 'idle':
    case 'pending':
      return { status: 'pending', phase: 'pending' };
    case 'downloading':
      return { status: 'downloading', phase: 'downloading' };
    case 'validating':
      return { status: 'validating', phase: 'validating' };
    case 'linking':
      return { status: 'upgrading', phase: 'linking' };
    case 'cuttingOver':
    case 'restoring':
      return { status: 'upgrading', phase: 'cuttingOver' };
    case 'standby':
      return { status: 'standby', phase: 'standby' };
    case 'retained':
    case 'running':
      return { status: 'running', phase: undefined };
    case 'unhealthy':
      return { status: 'unhealthy', phase: undefined };
    case 'stopping':
      return { status: 'stopping', phase: undefined };
    case 'stopped':
      return { status: 'stopped', phase: undefined };
    default:
      return { status: 'failed', phase: undefined };
  }
}
