// Every error thaw raises on purpose is a ThawError with a stable `code`, so callers (CLI, HTTP
// API, records, tests) tell them apart without parsing messages. ERRORS is the one table: each
// code has one HTTP status (the gateway answers with it), one exit code (the CLI exits with it)
// and one message form (what the message names, documented in docs/errors.md). User errors say
// what was wrong and where. The table's layout follows fastify's lib/errors.js: a code is added
// here, with its status and exit code, and test/core/errors.test.ts lists them all.

/** The CLI's exit codes: one per class of error, the same in every command. */
export const EXIT = {
  OK: 0,
  /** The function, the run or the operation failed (the request itself was fine). */
  FAILED: 1,
  /** Bad input: an option, a file, a package, a payload. Nothing was changed. */
  USAGE: 2,
  /** What the command names does not exist (function, version, invocation, alias). */
  NOT_FOUND: 3,
  /** The request contradicts the current state (an invocation already final, a reused key). */
  CONFLICT: 4,
  /** Not allowed: no or a wrong API token, or a missing file-system or port permission. */
  DENIED: 5,
  /** Something thaw needs is not there: the server, a system feature, capacity, the cluster. */
  UNAVAILABLE: 6,
  /** A bug in thaw (run again with --debug for the stack, and report it). */
  INTERNAL: 70,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface ErrorSpec {
  /** The HTTP status the gateway answers with. */
  status: number;
  /** The exit code of the CLI. */
  exit: ExitCode;
  /** What the message names: its form, for docs/errors.md. */
  form: string;
  /** What the user can do about it; the CLI prints it after the message. */
  hint?: string;
}

const spec = (status: number, exit: ExitCode, form: string, hint?: string): ErrorSpec => (hint === undefined ? { status, exit, form } : { status, exit, form, hint });

export const ERRORS = {
  // --- bad input (the caller's fault: 4xx, exit 2) ---
  /** An option, argument, query parameter or request field with a bad value. */
  ERR_INVALID_OPTION: spec(400, EXIT.USAGE, 'option NAME: what is wrong, and the value given'),
  /** A request body that is not JSON. */
  ERR_INVALID_JSON: spec(400, EXIT.USAGE, 'the request body is not valid JSON: where'),
  /** A trace file that cannot be read. */
  ERR_TRACE_FORMAT: spec(400, EXIT.USAGE, 'FILE, line N, column C: what was expected'),
  /** A trace with no invocations in it. */
  ERR_TRACE_EMPTY: spec(400, EXIT.USAGE, 'TRACE: what is empty'),
  /** A policy name the simulator does not know. */
  ERR_UNKNOWN_POLICY: spec(400, EXIT.USAGE, "unknown policy 'NAME' (the known ones)"),
  /** A deploy package that cannot be deployed (bad package.json, syntax error, no handler, missing dependency, too large). */
  ERR_INVALID_PACKAGE: spec(400, EXIT.USAGE, 'FILE:LINE:COLUMN: the problem'),
  /** A function's code or settings that cannot go into a microVM as they are (e.g. network access). */
  ERR_VM_CODE: spec(400, EXIT.USAGE, 'FUNCTION: what a microVM cannot give it, and what to do'),
  /** A payload, result or upload larger than its limit. */
  ERR_PAYLOAD_TOO_LARGE: spec(413, EXIT.USAGE, 'what is N bytes, over the limit of M bytes'),
  /** An HTTP request whose path, query, headers or body do not match its route's schema (GET /openapi.json). */
  ERR_INVALID_REQUEST: spec(400, EXIT.USAGE, "PART 'NAME' must be WHAT, got VALUE (path segment, query parameter, header, body.FIELD)"),
  /** An HTTP method the path does not answer (the Allow header lists those it does). */
  ERR_METHOD_NOT_ALLOWED: spec(405, EXIT.USAGE, 'METHOD is not a method of PATH: it answers METHODS'),

  // --- what was named does not exist (404, exit 3) ---
  /** A function, version, alias, invocation, job or route that does not exist. */
  ERR_NOT_FOUND: spec(404, EXIT.NOT_FOUND, "no KIND 'NAME'"),
  /** A function index or name a trace or policy refers to but does not define. */
  ERR_UNKNOWN_FUNCTION: spec(404, EXIT.NOT_FOUND, 'WHERE: names unknown function NAME'),

  // --- contradicts the current state (409, exit 4) ---
  /** A request that contradicts an earlier one (an Idempotency-Key reused with another payload). */
  ERR_CONFLICT: spec(409, EXIT.CONFLICT, 'what contradicts what'),
  /** A call that does not fit the current state (a job not running, a store newer than this thaw, a shut-down invoker). */
  ERR_INVALID_STATE: spec(409, EXIT.CONFLICT, 'THING is STATE, not EXPECTED'),
  /** An invocation cancelled before it ran: its function was removed. */
  ERR_CANCELLED: spec(410, EXIT.CONFLICT, 'why it was cancelled'),
  /** An async invocation older than its maximum event age: dropped without running. */
  ERR_EXPIRED: spec(410, EXIT.FAILED, 'the age and the limit'),

  // --- not allowed (401/403, exit 5) ---
  /** No API token, or an unknown one (thaw serve --token-file). */
  ERR_UNAUTHORIZED: spec(401, EXIT.DENIED, 'what is missing or unknown', 'pass --token TOKEN or set $THAW_TOKEN'),
  /** A known API token whose scope does not allow the request. */
  ERR_FORBIDDEN: spec(403, EXIT.DENIED, 'the scope the request needs', 'use a token with the admin scope'),
  /** The operating system refused thaw a file or a port (EACCES, EPERM). */
  ERR_PERMISSION: spec(500, EXIT.DENIED, 'what thaw could not do to WHAT', 'run as a user that may, or choose another --data-dir or --port'),

  // --- the function failed (5xx, exit 1) ---
  /** The function threw, exited, ran out of memory, or its module or init() failed. */
  ERR_FUNCTION: spec(502, EXIT.FAILED, 'KIND: the function\'s error message'),
  /** The function ran longer than its timeout and was stopped. */
  ERR_TIMEOUT: spec(504, EXIT.FAILED, 'FUNCTION timed out after N ms'),
  /** The function's bundle failed to load, exports no handler, or its init() threw while starting a sandbox. */
  ERR_SANDBOX_INIT: spec(502, EXIT.FAILED, 'FUNCTION: the error its module or init() raised'),
  /** A sandbox took longer than the backend's start timeout; it was killed. */
  ERR_SANDBOX_START_TIMEOUT: spec(504, EXIT.FAILED, 'SANDBOX did not start within N ms'),

  // --- unavailable here or now (5xx, exit 6) ---
  /** No instance could be had in time: memory full of busy instances, or the concurrency limit. */
  ERR_CAPACITY: spec(503, EXIT.UNAVAILABLE, 'what is full', 'retry later, or give thaw serve more --memory'),
  /** The cluster (its NATS server, or the node a request needs) cannot be reached. */
  ERR_CLUSTER: spec(503, EXIT.UNAVAILABLE, 'what in the cluster failed'),
  /** The requested isolation (bubblewrap, cgroups) is not available on this machine. */
  ERR_ISOLATION_UNAVAILABLE: spec(501, EXIT.UNAVAILABLE, 'what is missing', 'install it (apt-get install bubblewrap) or choose another --isolation'),
  /** The sandbox backend cannot do this on this machine (e.g. change limits without cgroups). */
  ERR_SANDBOX_UNSUPPORTED: spec(501, EXIT.UNAVAILABLE, 'what the backend lacks'),
  /** QEMU, the guest kernel's packages or a C compiler are missing, or the accelerator cannot run. */
  ERR_VM_UNAVAILABLE: spec(501, EXIT.UNAVAILABLE, 'what is missing, and how to install it'),
  /** A V8 snapshot start is not possible for this instance now (none built, another memory size, not yet cached). */
  ERR_SNAPSHOT_UNAVAILABLE: spec(503, EXIT.UNAVAILABLE, 'FUNCTION: why there is no snapshot to start from'),
  /** The CLI cannot reach the server at its --url. */
  ERR_UNREACHABLE: spec(502, EXIT.UNAVAILABLE, 'cannot reach thaw at URL (the reason)', "start it with 'thaw serve', or pass --url URL (or set $THAW_URL)"),
  /** The server at --url answered, but not as thaw does. */
  ERR_NOT_THAW: spec(502, EXIT.UNAVAILABLE, 'URL answered HTTP N (what), not as thaw does', 'check --url (or $THAW_URL): it must point at thaw serve'),
  /** thaw serve's port is taken by another process. */
  ERR_ADDRESS_IN_USE: spec(500, EXIT.UNAVAILABLE, 'HOST:PORT is already in use', 'stop the other process or choose another --port'),

  // --- thaw's own failures (5xx, exit 1; a bug: exit 70) ---
  /** A deploy that failed for a reason outside the package (npm or the registry unreachable, esbuild crashed, disk). */
  ERR_DEPLOY_FAILED: spec(500, EXIT.FAILED, 'the step that failed, and why'),
  /** The runtime did not come up: its process could not be spawned, or exited before it was ready. */
  ERR_SANDBOX_START: spec(500, EXIT.FAILED, 'SANDBOX: how the runtime ended'),
  /** A cgroup file could not be created, written or read. */
  ERR_CGROUP: spec(500, EXIT.FAILED, 'cannot VERB PATH: the reason'),
  /** Building the microVM guest image failed. */
  ERR_VM_IMAGE: spec(500, EXIT.FAILED, 'the step that failed, and its output'),
  /** Booting, snapshotting or restoring a VM failed (or QEMU's machine protocol answered an error). */
  ERR_VM_START: spec(500, EXIT.FAILED, 'VM: what failed'),
  /** A VM snapshot's files do not match their checksums (or are missing): never restored. */
  ERR_VM_SNAPSHOT_CORRUPT: spec(500, EXIT.FAILED, 'SNAPSHOT: which file does not match'),
  /** A VM snapshot is not there, or not in the format this thaw writes. */
  ERR_VM_SNAPSHOT_MISSING: spec(500, EXIT.FAILED, 'SNAPSHOT: what is missing or different'),
  /** A blob (snapshot file) is not in the store. */
  ERR_BLOB_MISSING: spec(500, EXIT.FAILED, 'blob ADDRESS: where it was looked for'),
  /** A blob's bytes do not hash to its address. */
  ERR_BLOB_CORRUPT: spec(500, EXIT.FAILED, 'blob ADDRESS: what it hashed to'),
  /** A blob larger than the local cache. */
  ERR_BLOB_TOO_LARGE: spec(500, EXIT.FAILED, 'blob ADDRESS (N bytes) is larger than LIMIT'),
  /** A string that is not a blob address. */
  ERR_BLOB_ADDRESS: spec(500, EXIT.FAILED, 'not a blob address: VALUE'),
  /** A call that does not fit a sandbox's state (invoke while busy, start twice, use after destroy): a bug in thaw. */
  ERR_SANDBOX_STATE: spec(500, EXIT.INTERNAL, 'SANDBOX is STATE: what was asked'),
  /** Anything thaw did not raise on purpose: a bug. */
  ERR_INTERNAL: spec(500, EXIT.INTERNAL, 'internal error: the message', "a bug in thaw: run again with --debug and report the stack"),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

export class ThawError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ThawError';
    this.code = code;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  get exitCode(): ExitCode {
    return ERRORS[this.code].exit;
  }
}

/**
 * Any thrown value as a ThawError: a ThawError as it is; the operating system's refusals (a port
 * in use, a permission) as their codes; anything else as ERR_INTERNAL, keeping the original as cause.
 */
export function toThawError(error: unknown): ThawError {
  if (error instanceof ThawError) return error;
  const e = error as NodeJS.ErrnoException & { address?: string; port?: number };
  const message = e instanceof Error ? e.message : String(error);
  switch (e?.code) {
    case 'EADDRINUSE':
      return new ThawError('ERR_ADDRESS_IN_USE', `${e.address ?? 'the address'}${e.port !== undefined ? `:${e.port}` : ''} is already in use`, { cause: error });
    case 'EACCES':
    case 'EPERM':
      return new ThawError('ERR_PERMISSION', e.syscall === 'listen' || e.syscall === 'bind' ? `not allowed to listen on ${e.address ?? ''}${e.port !== undefined ? `:${e.port}` : ''} (ports below 1024 need root)` : `not allowed: ${message}`, { cause: error });
  }
  return new ThawError('ERR_INTERNAL', `internal error: ${message}`, { cause: error });
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

/**
 * The code of a failed invocation, from its record's error kind: the function's fault
 * (ERR_FUNCTION), too slow (ERR_TIMEOUT), no room (ERR_CAPACITY), thaw's fault (ERR_INTERNAL).
 */
export function invocationErrorCode(kind: string): ErrorCode {
  switch (kind) {
    case 'timeout':
      return 'ERR_TIMEOUT';
    case 'throttled':
    case 'capacity':
      return 'ERR_CAPACITY';
    case 'cancelled':
      return 'ERR_CANCELLED';
    case 'expired':
      return 'ERR_EXPIRED';
    case 'platform':
      return 'ERR_INTERNAL';
    default: // error, init, exit, oom
      return 'ERR_FUNCTION';
  }
}
