// Every error thaw raises on purpose, with a stable `code` so callers (CLI, HTTP API, tests) can
// tell them apart without parsing messages. User errors say what was wrong and where.

export type ErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_TRACE_FORMAT'
  | 'ERR_TRACE_EMPTY'
  | 'ERR_UNKNOWN_POLICY'
  | 'ERR_UNKNOWN_FUNCTION'
  | 'ERR_INVALID_STATE'
  /** A deploy package that cannot be deployed (bad package.json, syntax error, no handler, missing dependency, too large). */
  | 'ERR_INVALID_PACKAGE'
  /** A deploy that failed for a reason outside the package (npm or the registry unreachable, esbuild crashed, disk). */
  | 'ERR_DEPLOY_FAILED'
  /** A function, version, invocation or job that does not exist. */
  | 'ERR_NOT_FOUND'
  /** A payload, result or upload larger than its limit. */
  | 'ERR_PAYLOAD_TOO_LARGE'
  /** No instance could be had in time: memory full of busy instances, or the concurrency limit. */
  | 'ERR_CAPACITY'
  /** A request that contradicts an earlier one (an Idempotency-Key reused with another payload). */
  | 'ERR_CONFLICT'
  /** No API token, or an unknown one (thaw serve --token-file). */
  | 'ERR_UNAUTHORIZED'
  /** A known API token whose scope does not allow the request. */
  | 'ERR_FORBIDDEN'
  /** The cluster (its NATS server, or the node a request needs) cannot be reached. */
  | 'ERR_CLUSTER';

export class ThawError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ThawError';
    this.code = code;
  }
}

/** A trace file that cannot be read: names the file, the 1-based line and column, and what was expected. */
export class TraceFormatError extends ThawError {
  readonly file: string;
  readonly line: number | undefined;
  readonly column: string | number | undefined;
  constructor(file: string, line: number | undefined, column: string | number | undefined, what: string) {
    const where = [file, line !== undefined ? `line ${line}` : undefined, column !== undefined ? `column ${column}` : undefined]
      .filter(Boolean)
      .join(', ');
    super('ERR_TRACE_FORMAT', `${where}: ${what}`);
    this.name = 'TraceFormatError';
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

export function invalidOption(name: string, what: string): ThawError {
  return new ThawError('ERR_INVALID_OPTION', `option ${name}: ${what}`);
}

/** A deploy package that cannot be deployed: names the file (relative to the package), the 1-based line and column when known, and the problem. */
export class InvalidPackageError extends ThawError {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(file: string | undefined, what: string, line?: number, column?: number) {
    const where = file === undefined ? '' : [file, line, line !== undefined ? column : undefined].filter((x) => x !== undefined).join(':');
    super('ERR_INVALID_PACKAGE', where ? `${where}: ${what}` : what);
    this.name = 'InvalidPackageError';
    this.file = file;
    this.line = line;
    this.column = column;
  }
}
