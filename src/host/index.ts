export { createHost } from './createHost';
export type { Host, HostOptions, HostOutcome, InvokeOptions } from './createHost';
export { Gate } from './gate';
export type { GateOptions, GateTarget, GateTotals } from './gate';
export { Histogram } from './histogram';
export { decodeInvokeReply, encodeInvokeError, encodeInvokeOk, invokeRemote } from './invokeReply';
export { peerOf, planLinks } from './planLinks';
export type { LinkPlan, LinkSwap } from './planLinks';
export { statusOf } from './statusOf';
