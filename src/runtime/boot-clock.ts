// Imported first by the agent, so that this is the first line of the agent to run once node has
// booted: the runtime's own boot time is everything before it.

export const agentFirstLineMs: number = performance.now();
