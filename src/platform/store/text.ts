// Cutting text to a byte budget without splitting a UTF-8 character.

/** The newest output of `text` that fits in `maxBytes` (UTF-8), with a marker saying how much was cut. */
export function keepTail(text: string, maxBytes: number): { text: string; truncated: boolean } {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, truncated: false };
  const marker = `[… ${buf.length - maxBytes} bytes cut …]\n`;
  const room = Math.max(0, maxBytes - Buffer.byteLength(marker));
  let start = buf.length - room;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++; // skip continuation bytes
  return { text: (room > 0 ? marker : '') + buf.subarray(start).toString('utf8'), truncated: true };
}
