// Errors the sandbox layer raises on purpose: ThawErrors with the sandbox's codes, and start()'s
// failure carrying what the function wrote.

import { ThawError, type ErrorCode } from '../../core/errors.ts';
import type { SerializedError } from '../../runtime/protocol.ts';

/** The sandbox layer's codes (their statuses and exit codes are in core/errors.ts's ERRORS). */
export type SandboxErrorCode = Extract<
  ErrorCode,
  'ERR_SANDBOX_STATE' | 'ERR_SANDBOX_START' | 'ERR_SANDBOX_INIT' | 'ERR_SANDBOX_START_TIMEOUT' | 'ERR_SANDBOX_UNSUPPORTED' | 'ERR_CGROUP' | 'ERR_ISOLATION_UNAVAILABLE'
>;

export class SandboxError extends ThawError {
  declare readonly code: SandboxErrorCode;
  constructor(code: SandboxErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SandboxError';
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
