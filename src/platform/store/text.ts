// Cutting text to a byte budget without splitting a UTF-8 character: a long log keeps its head (how
// it started) and its tail (how it ended), with a marker saying how many bytes were left out.

/** What stands for the bytes left out between a log's head and its tail. */
export function omittedMarker(bytes: number): string {
  return `\n[… ${bytes} bytes omitted …]\n`;
}

const MARKER = /\n\[… (\d+) bytes omitted …\]\n/g;

/**
 * The first maxBytes/2 and the last maxBytes/2 of `text` (UTF-8), joined by a marker giving the
 * bytes in between. Cutting text already cut (the sandbox cuts, then the store) counts the bytes
 * the earlier marker stood for, so the number is always of the original output.
 */
export function keepHeadAndTail(text: string, maxBytes: number): { text: string; truncated: boolean } {
  // Most output (none, on the warm path) is far within the budget: its UTF-8 need not be made to
  // count it (a UTF-16 unit is at most 3 bytes of UTF-8).
  if (text.length * 3 <= maxBytes) return { text, truncated: false };
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, truncated: false };
  const headEnd = charStartAtOrBefore(buf, Math.floor(maxBytes / 2));
  const tailStart = charStartAtOrAfter(buf, buf.length - (maxBytes - Math.floor(maxBytes / 2)));
  let omitted = tailStart - headEnd;
  for (const earlier of buf.subarray(headEnd, tailStart).toString('utf8').matchAll(MARKER)) omitted += Number(earlier[1]) - Buffer.byteLength(earlier[0]);
  return { text: buf.subarray(0, headEnd).toString('utf8') + omittedMarker(omitted) + buf.subarray(tailStart).toString('utf8'), truncated: true };
}

/** `at`, or the start of the UTF-8 character `at` falls inside. */
export function charStartAtOrBefore(buf: Buffer, at: number): number {
  while (at > 0 && at < buf.length && (buf[at]! & 0xc0) === 0x80) at--;
  return at;
}

/** `at`, or the start of the next UTF-8 character when `at` falls inside one. */
export function charStartAtOrAfter(buf: Buffer, at: number): number {
  while (at < buf.length && (buf[at]! & 0xc0) === 0x80) at++;
  return at;
}

/** Where the last whole UTF-8 character of `buf` ends: before a character cut short at its end. */
export function wholeCharsEnd(buf: Buffer): number {
  let start = buf.length - 1;
  while (start > 0 && buf.length - start < 4 && (buf[start]! & 0xc0) === 0x80) start--;
  if (start < 0) return 0;
  const lead = buf[start]!;
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return start + length > buf.length ? start : buf.length;
}
