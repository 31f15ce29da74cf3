import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzz, reportMarkdown } from './fuzz.js';
import { startFuzzTarget, type FuzzTarget } from './target.js';

let target: FuzzTarget;
beforeAll(async () => {
  target = await startFuzzTarget();
});
afterAll(async () => {
  await target?.close();
});

describe('hostile input (the short run of `npm run fuzz`)', () => {
  it('gets no 5xx, a refused request writes nothing, and each hand-made case gets an answer it may', { timeout: 300_000 }, async () => {
    // Seeded: the same requests every run. A few generated per operation, and the shorter set of hand-made cases.
    const { report } = await fuzz(target, { seed: 1, maxExamples: 3, phases: 'fuzzing,stateful', thorough: false });
    const findings = { serverErrors: report.serverErrors, writesByRefusals: report.writesByRefusals, handMade: report.handMade.findings };
    if (Object.values(findings).some((list) => list.length)) console.log(reportMarkdown(report));
    expect(report.refusalsChecked).toBeGreaterThan(250);
    expect(findings).toEqual({ serverErrors: [], writesByRefusals: [], handMade: [] });
  });
});
