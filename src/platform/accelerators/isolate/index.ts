// V8 isolates as a start path: start-path.ts (the path), host-process.ts and host.ts (the long-running
// isolate host and its protocol.ts), prelude.ts (what an isolate has of Node), compat.ts (which
// bundles can run in one), sandbox.ts (the Sandbox an isolate start hands the invoker).

export { IsolateStartPath, type IsolateStartPathOptions } from './start-path.ts';
export { IsolateSandbox } from './sandbox.ts';
export { IsolateHost, findIsolatedVm } from './host-process.ts';
export { checkBundle, type Compatibility } from './compat.ts';
