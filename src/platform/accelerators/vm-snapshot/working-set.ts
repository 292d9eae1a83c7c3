// Recording a restored VM's working set (REAP's record phase) and writing the two prefetch files:
//
//   ws        REAP: the working set's non-zero pages, packed, read in one sequential O_DIRECT read
//   loadset   FaaSnap: the same pages as runs of the memory file, grouped by first-touch order and
//             sorted by offset within each group; zero pages left out (they are holes: never read)
//
// Recording: QEMU maps the snapshot's memory file privately; a page of it is present in QEMU's page
// tables once the guest touched it. The recorder reads /proc/<qemu>/pagemap over the guest-RAM
// mapping every few milliseconds while the first invocation runs: the present pages are the
// working set; the poll in which a page first appeared is its first-touch group. The recording
// restore runs QEMU with MADV_RANDOM on guest RAM (see native/guest-ram-advice.c) after evicting
// the memory file from the page cache, so each fault reads and maps exactly its own 4 KiB page:
// no readahead, and no fault-around (which maps only neighbours already cached). The granularity
// is therefore 4 KiB, the kernel's page.

import { closeSync, openSync, readSync } from 'node:fs';
import { open, readFile, rename, writeFile } from 'node:fs/promises';

export const PAGE_SIZE = 4096;
const PRESENT = 1n << 63n;

export interface GuestRamMapping {
  /** Virtual address range in QEMU of the guest RAM's file mapping. */
  start: bigint;
  end: bigint;
  /** File offset the mapping starts at. */
  offset: bigint;
}

/** The mapping of `memoryFile` in process `pid` (the guest RAM), from /proc/<pid>/maps. */
export async function findGuestRamMapping(pid: number, memoryFile: string): Promise<GuestRamMapping | undefined> {
  const maps = await readFile(`/proc/${pid}/maps`, 'utf8');
  let best: GuestRamMapping | undefined;
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+([0-9a-f]+)\s+\S+\s+\d+\s+(.*)$/.exec(line);
    if (!m || m[4]!.replace(/ \(deleted\)$/, '') !== memoryFile) continue;
    const mapping = { start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), offset: BigInt(`0x${m[3]}`) };
    if (!best || mapping.end - mapping.start > best.end - best.start) best = mapping;
  }
  return best;
}

/** Polls QEMU's page tables for the pages of guest RAM it has mapped, remembering when each first appeared. */
export class PagemapRecorder {
  /** File page number → the poll (group) it was first seen in. */
  readonly firstSeen = new Map<number, number>();
  private polls = 0;
  private readonly fd: number;
  private readonly buf: Buffer;
  private readonly firstPage: number;

  constructor(
    pid: number,
    private readonly mapping: GuestRamMapping,
  ) {
    this.fd = openSync(`/proc/${pid}/pagemap`, 'r');
    const pages = Number((mapping.end - mapping.start) / BigInt(PAGE_SIZE));
    this.buf = Buffer.alloc(pages * 8);
    this.firstPage = Number(mapping.offset / BigInt(PAGE_SIZE));
  }

  /** One look at the page tables; returns how many pages appeared since the last. */
  poll(): number {
    const position = Number((this.mapping.start / BigInt(PAGE_SIZE)) * 8n);
    let got = 0;
    while (got < this.buf.length) {
      const n = readSync(this.fd, this.buf, got, this.buf.length - got, position + got);
      if (n <= 0) break;
      got += n;
    }
    const group = this.polls++;
    let added = 0;
    for (let i = 0; i * 8 < got; i++) {
      if ((this.buf.readBigUInt64LE(i * 8) & PRESENT) === 0n) continue;
      const page = this.firstPage + i;
      if (!this.firstSeen.has(page)) {
        this.firstSeen.set(page, group);
        added++;
      }
    }
    return added;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface WorkingSetStats {
  /** Pages the guest touched (4 KiB each). */
  touchedPages: number;
  /** Of those, pages that are all zeros in the snapshot (holes: never read, left out of both files). */
  zeroPages: number;
  /** Pages in the files. */
  pages: number;
  /** Size of the REAP working-set file. */
  wsFileBytes: number;
  /** First-touch groups in the FaaSnap loading set, and its runs. */
  groups: number;
  runs: number;
}

/**
 * Writes the REAP working-set file and the FaaSnap loading-set file for the pages `firstSeen`
 * holds, reading their contents from the snapshot's memory file.
 */
export async function writePrefetchFiles(memoryFile: string, firstSeen: ReadonlyMap<number, number>, wsPath: string, loadsetPath: string): Promise<WorkingSetStats> {
  const touched = [...firstSeen.keys()].sort((a, b) => a - b);
  const mem = await open(memoryFile, 'r');
  const kept: number[] = [];
  const chunks: Buffer[] = [];
  let zeroPages = 0;
  try {
    const page = Buffer.alloc(PAGE_SIZE);
    for (const p of touched) {
      const { bytesRead } = await mem.read(page, 0, PAGE_SIZE, p * PAGE_SIZE);
      if (bytesRead < PAGE_SIZE || page.every((b) => b === 0)) {
        zeroPages++;
        continue;
      }
      kept.push(p);
      chunks.push(Buffer.from(page));
    }
  } finally {
    await mem.close();
  }

  // REAP: header page, index (u64 page numbers) padded to a page, then the pages.
  const header = Buffer.alloc(PAGE_SIZE);
  header.write('THAWWS01', 0, 'ascii');
  header.writeUInt32LE(PAGE_SIZE, 8);
  header.writeBigUInt64LE(BigInt(kept.length), 16);
  const index = Buffer.alloc(Math.ceil((kept.length * 8) / PAGE_SIZE) * PAGE_SIZE);
  kept.forEach((p, i) => index.writeBigUInt64LE(BigInt(p), i * 8));
  const ws = Buffer.concat([header, index, ...chunks]);
  await writeFile(`${wsPath}.tmp`, ws);
  await rename(`${wsPath}.tmp`, wsPath);

  // FaaSnap: runs of consecutive pages within each first-touch group, groups in order.
  const byGroup = new Map<number, number[]>();
  for (const p of kept) {
    const g = firstSeen.get(p)!;
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(p);
  }
  const runs: { page: number; pages: number; group: number }[] = [];
  const groups = [...byGroup.keys()].sort((a, b) => a - b);
  groups.forEach((g, order) => {
    for (const p of byGroup.get(g)!) {
      const last = runs[runs.length - 1];
      if (last && last.group === order && last.page + last.pages === p) last.pages++;
      else runs.push({ page: p, pages: 1, group: order });
    }
  });
  const ls = Buffer.alloc(16 + runs.length * 16);
  ls.write('THAWLS01', 0, 'ascii');
  ls.writeBigUInt64LE(BigInt(runs.length), 8);
  runs.forEach((r, i) => {
    ls.writeBigUInt64LE(BigInt(r.page), 16 + i * 16);
    ls.writeUInt32LE(r.pages, 24 + i * 16);
    ls.writeUInt32LE(r.group, 28 + i * 16);
  });
  await writeFile(`${loadsetPath}.tmp`, ls);
  await rename(`${loadsetPath}.tmp`, loadsetPath);

  return { touchedPages: touched.length, zeroPages, pages: kept.length, wsFileBytes: ws.length, groups: groups.length, runs: runs.length };
}

/** The page numbers a REAP working-set file holds (for inspection and tests). */
export async function readWorkingSetIndex(wsPath: string): Promise<number[]> {
  const buf = await readFile(wsPath);
  if (buf.subarray(0, 8).toString('ascii') !== 'THAWWS01') throw new Error(`${wsPath} is not a thaw working-set file`);
  const count = Number(buf.readBigUInt64LE(16));
  return Array.from({ length: count }, (_, i) => Number(buf.readBigUInt64LE(PAGE_SIZE + i * 8)));
}
