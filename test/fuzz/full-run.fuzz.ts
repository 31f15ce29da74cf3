import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzz, reportMarkdown } from './fuzz.js';
import { startFuzzTarget, type FuzzTarget } from './target.js';

// `npm run fuzz`: the thorough run of issue 11, at least 10,000 requests; its report goes to test/fuzz/results/.

let target: FuzzTarget;
beforeAll(async () => {
  target = await startFuzzTarget();
});
afterAll(async () => {
  await target?.close();
});

describe('hostile input, the full run', () => {
  it('gets no 5xx in at least 10,000 requests, and a refused request writes nothing', { timeout: 4 * 60 * 60 * 1000 }, async () => {
    const { report, schemathesis } = await fuzz(target, { seed: 11, maxExamples: 1_000, phases: 'examples,coverage,fuzzing,stateful', thorough: true, maxSeconds: 23 * 60 });
    const results = path.join(import.meta.dirname, 'results');
    fs.mkdirSync(results, { recursive: true });
    fs.writeFileSync(path.join(results, 'fuzz-report.md'), reportMarkdown(report));
    fs.writeFileSync(path.join(results, 'fuzz-report.json'), `${JSON.stringify(report, null, 2)}\n`);
    fs.writeFileSync(path.join(results, 'schemathesis-output.txt'), schemathesis.output);
    expect(report.requests).toBeGreaterThanOrEqual(10_000);
    expect({ serverErrors: report.serverErrors, writesByRefusals: report.writesByRefusals, handMade: report.handMade.findings }).toEqual({
      serverErrors: [],
      writesByRefusals: [],
      handMade: [],
    });
  });
});
