// The files inlined into every HTML report, read from disk at render time so the report opens
// offline with no server. Read once per process: a sweep may render many reports.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface ReportAssets {
  /** uPlot's browser build (defines the global `uPlot`). */
  uplotJs: string;
  uplotCss: string;
  /** The script that draws the charts from the embedded data (assets/report-client.js). */
  clientJs: string;
}

let cached: ReportAssets | undefined;

export function loadReportAssets(): ReportAssets {
  if (!cached) {
    // Resolved through Node's module resolution so it finds uplot wherever npm placed it.
    const require = createRequire(import.meta.url);
    cached = {
      uplotJs: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      uplotCss: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
      clientJs: readFileSync(fileURLToPath(new URL('./assets/report-client.js', import.meta.url)), 'utf8'),
    };
  }
  return cached;
}
