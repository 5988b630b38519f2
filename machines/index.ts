// Pure statecharts: this entry imports only xstate, src/protocol and src/errors.
// --- component (issue 5)
// --- rollout (issue 6)
export {};
