// Errors of the microVM backend, each with a stable code.

export type MicroVmErrorCode =
  /** QEMU, the guest kernel's packages or a C compiler are missing, or the accelerator cannot run. */
  | 'ERR_VM_UNAVAILABLE'
  /** Building the guest image failed. */
  | 'ERR_VM_IMAGE'
  /** The function's code or settings cannot go into a VM as they are (e.g. network access). */
  | 'ERR_VM_CODE'
  /** Booting, snapshotting or restoring a VM failed. */
  | 'ERR_VM_START'
  /** A snapshot's files do not match their checksums (or are missing): never restored. */
  | 'ERR_VM_SNAPSHOT_CORRUPT'
  /** A snapshot is not there, or not in the format this thaw writes. */
  | 'ERR_VM_SNAPSHOT_MISSING';

export class MicroVmError extends Error {
  constructor(
    readonly code: MicroVmErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MicroVmError';
  }
}
