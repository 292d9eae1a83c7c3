// Errors the sandbox layer raises on purpose, each with a stable `code`. (They could join
// src/core/errors.ts's ErrorCode union; kept here so this layer owns its own failure modes.)

import type { SerializedError } from '../../runtime/protocol.ts';

export type SandboxErrorCode =
  /** The call does not fit the sandbox's state (invoke while busy or paused, start twice, use after destroy). */
  | 'ERR_SANDBOX_STATE'
  /** The runtime did not come up: the process could not be spawned, or exited before it was ready. */
  | 'ERR_SANDBOX_START'
  /** The function's bundle failed to load, exports no handler, or its init() threw. */
  | 'ERR_SANDBOX_INIT'
  /** Starting took longer than the backend's start timeout; the sandbox was killed. */
  | 'ERR_SANDBOX_START_TIMEOUT'
  /** The backend cannot do this on this machine (e.g. change limits without cgroups). */
  | 'ERR_SANDBOX_UNSUPPORTED'
  /** A cgroup file could not be created, written or read. */
  | 'ERR_CGROUP'
  /** The requested isolation is not available on this machine. */
  | 'ERR_ISOLATION_UNAVAILABLE';

export class SandboxError extends Error {
  readonly code: SandboxErrorCode;
  constructor(code: SandboxErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SandboxError';
    this.code = code;
  }
}

/** start() failed: carries what the function wrote and, for init failures, its error. */
export class SandboxStartError extends SandboxError {
  readonly functionError: SerializedError | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly exit: { code: number | null; signal: string | null; oom: boolean } | undefined;
  constructor(
    code: 'ERR_SANDBOX_START' | 'ERR_SANDBOX_INIT' | 'ERR_SANDBOX_START_TIMEOUT',
    message: string,
    details: {
      functionError?: SerializedError;
      stdout: string;
      stderr: string;
      exit?: { code: number | null; signal: string | null; oom: boolean };
    },
  ) {
    super(code, message);
    this.name = 'SandboxStartError';
    this.functionError = details.functionError;
    this.stdout = details.stdout;
    this.stderr = details.stderr;
    this.exit = details.exit;
  }
}
