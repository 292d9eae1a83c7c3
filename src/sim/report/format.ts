// Number formatting shared by the terminal tables, the HTML report and the progress bar. Every
// helper takes a number that may be missing or not finite (a sweep point that was not run, a ratio
// over zero invocations) and prints MISSING for it rather than "NaN" or "undefined".

/** Printed for a value that is absent or not a finite number. */
export const MISSING = '—';

/**
 * MB in a GB. Binary, like the FaaSCache plotting scripts (memory / 1024) and GB-s billing, so a
 * 16384 MB server prints as 16 GB.
 */
export const MB_PER_GB = 1024;

const groupedNumber = new Map<number, Intl.NumberFormat>();

function isPresent(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** `value` with thousands separators and exactly `decimals` digits after the point. */
export function formatFixed(value: number | null | undefined, decimals: number): string {
  if (!isPresent(value)) return MISSING;
  let format = groupedNumber.get(decimals);
  if (!format) {
    format = new Intl.NumberFormat('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
    groupedNumber.set(decimals, format);
  }
  // Intl prints -0 as "-0"; a rounded tiny negative should read as 0.
  const text = format.format(value);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

/**
 * Decimals that keep about three significant digits without printing noise: 1234 → 0, 12.3 → 1,
 * 1.23 → 2, 0.123 → 3.
 */
function adaptiveDecimals(value: number): number {
  const magnitude = Math.abs(value);
  if (magnitude >= 100 || magnitude === 0) return 0;
  if (magnitude >= 10) return 1;
  if (magnitude >= 1) return 2;
  return 3;
}

/** A measurement with about three significant digits and thousands separators: 1,234 · 12.3 · 0.123. */
export function formatNumber(value: number | null | undefined): string {
  if (!isPresent(value)) return MISSING;
  return formatFixed(value, adaptiveDecimals(value));
}

/** A count with thousands separators, rounded to an integer: 1,234,567. */
export function formatCount(value: number | null | undefined): string {
  if (!isPresent(value)) return MISSING;
  return formatFixed(Math.round(value), 0);
}

/**
 * A value already in percent (e.g. coldStartOverheadPct), without the sign: 123 · 12.3 · 1.23.
 * Values below 0.01 that are not zero print as "<0.01" so a small but real overhead never reads as none.
 */
export function formatPercentNumber(pct: number | null | undefined): string {
  if (!isPresent(pct)) return MISSING;
  if (pct === 0) return '0';
  if (Math.abs(pct) < 0.01) return pct > 0 ? '<0.01' : '>-0.01';
  const magnitude = Math.abs(pct);
  const text = formatFixed(pct, magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2);
  // 99.97% of invocations served is not "100%": keep the digits that show it falls short.
  return /^100(\.0*)?$/.test(text) && pct < 100 ? formatFixed(Math.min(pct, 99.99), 2) : text;
}

/** A value already in percent, with the sign: 12.3%. */
export function formatPercent(pct: number | null | undefined): string {
  const text = formatPercentNumber(pct);
  return text === MISSING ? text : `${text}%`;
}

/** A fraction (0..1, e.g. coldStartRatio or a hit ratio) as a percentage: 0.123 → 12.3%. */
export function formatRatio(ratio: number | null | undefined): string {
  return formatPercent(isPresent(ratio) ? ratio * 100 : ratio);
}

/** Megabytes as GB, without the unit, for columns headed "GB": 15360 → 15, 1536 → 1.5. */
export function formatGbNumber(mb: number | null | undefined): string {
  if (!isPresent(mb)) return MISSING;
  const gb = mb / MB_PER_GB;
  // Trim trailing zeros: a sweep over whole GB should print 16, not 16.0.
  return formatNumber(gb).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

/** Memory with its unit: MB below a GB, GB above: 512 MB · 1.5 GB · 80 GB. */
export function formatMemory(mb: number | null | undefined): string {
  if (!isPresent(mb)) return MISSING;
  if (Math.abs(mb) < MB_PER_GB) return `${formatCount(mb)} MB`;
  return `${formatGbNumber(mb)} GB`;
}

/** Memory held over time: 1,234 GB-s. */
export function formatGbSeconds(gbs: number | null | undefined): string {
  if (!isPresent(gbs)) return MISSING;
  return `${formatNumber(gbs)} GB-s`;
}

/** A duration read by a person: 350 ms · 4.2 s · 3 min 05 s · 8 h · 2 h 30 min. */
export function formatDuration(ms: number | null | undefined): string {
  if (!isPresent(ms)) return MISSING;
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${formatNumber(ms / 1000)} s`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600) {
    const minutes = Math.floor(totalSeconds / 60);
    const seconds = totalSeconds % 60;
    return seconds === 0 ? `${minutes} min` : `${minutes} min ${String(seconds).padStart(2, '0')} s`;
  }
  const totalMinutes = Math.round(totalSeconds / 60);
  const hours = Math.floor(totalMinutes / 60);
  const minutes = totalMinutes % 60;
  return minutes === 0 ? `${formatCount(hours)} h` : `${formatCount(hours)} h ${String(minutes).padStart(2, '0')} min`;
}

/** A rate with an SI suffix: 850/s · 12.3k/s · 1.2M/s. */
export function formatRate(perSecond: number | null | undefined, unit = '/s'): string {
  if (!isPresent(perSecond)) return MISSING;
  const magnitude = Math.abs(perSecond);
  if (magnitude >= 1e9) return `${formatNumber(perSecond / 1e9)}G${unit}`;
  if (magnitude >= 1e6) return `${formatNumber(perSecond / 1e6)}M${unit}`;
  if (magnitude >= 1e4) return `${formatNumber(perSecond / 1e3)}k${unit}`;
  return `${formatNumber(perSecond)}${unit}`;
}
