// Writes sample reports from the realistic fixtures, for looking at the pages in a browser after
// changing them: node --import tsx test/sim/report/write-samples.ts [directory]

import { join } from 'node:path';
import { renderCurveReport, renderSimReport, renderSweepReport, writeReport } from '../../../src/sim/report/html.ts';
import { curveTable, simSummaryTable, sweepTable } from '../../../src/sim/report/summaries.ts';
import { realisticCurve, realisticRun, realisticSweep } from './realistic-fixtures.ts';

const directory = process.argv[2] ?? 'out/report-samples';
const sweep = realisticSweep();
const curve = realisticCurve();
const run = realisticRun();
const dynamicRun = realisticRun({ dynamic: true });

writeReport(join(directory, 'sweep.html'), renderSweepReport(sweep, { curve, runs: [run, dynamicRun, realisticRun({ policy: 'TTL', memoryGb: 40 })] }));
writeReport(join(directory, 'sim.html'), renderSimReport(run, { curve }));
writeReport(join(directory, 'sim-dynamic.html'), renderSimReport(dynamicRun));
writeReport(join(directory, 'curve.html'), renderCurveReport(curve));

if (process.argv.includes('--tables')) {
  console.log(`${sweepTable(sweep)}\n\n${simSummaryTable(run)}\n\n${curveTable(curve)}`);
}
console.log(`wrote sweep.html, sim.html, sim-dynamic.html, curve.html to ${directory}`);
