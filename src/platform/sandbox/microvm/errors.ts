// Errors of the microVM backend: ThawErrors with the microVM codes (see core/errors.ts's ERRORS).

import { ThawError, type ErrorCode } from '../../../core/errors.ts';

export type MicroVmErrorCode = Extract<ErrorCode, 'ERR_VM_UNAVAILABLE' | 'ERR_VM_IMAGE' | 'ERR_VM_CODE' | 'ERR_VM_START' | 'ERR_VM_SNAPSHOT_CORRUPT' | 'ERR_VM_SNAPSHOT_MISSING'>;

export class MicroVmError extends ThawError {
  declare readonly code: MicroVmErrorCode;
  constructor(code: MicroVmErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'MicroVmError';
  }
}
