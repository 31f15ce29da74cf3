import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';

const run = promisify(execFile);
const depcruise = path.join(projectRoot, 'node_modules', '.bin', 'depcruise');
const config = path.join(projectRoot, '.dependency-cruiser.cjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

/** Runs dependency-cruiser with the project's rules over `dir`, as `npm run lint:deps` does. */
async function violations(dir: string): Promise<Violation[]> {
  // depcruise exits non-zero when it finds violations; the JSON report is on stdout either way.
  const result = await run(depcruise, ['--config', config, '--output-type', 'json', '.'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 }).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  );
  return (JSON.parse(result.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('the layers (.dependency-cruiser.cjs)', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'layers-'));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('hold in this codebase: no import runs back up a layer, no cycle, no test helper in product code', async () => {
    expect(await violations(projectRoot)).toEqual([]);
  });

  it('catch each kind of violation', async () => {
    const files: Record<string, string> = {
      'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
      'events/kafka.ts': 'export const kafka = 1;\n',
      'domain/orders.ts': "import { kafka } from '../events/kafka.js';\nexport const orders = kafka;\n",
      'activities/index.ts': 'export const reserve = () => 1;\nexport type Steps = { reserve(): number };\n',
      'workflows/saga.ts':
        "import { reserve } from '../activities/index.js';\nimport type { Steps } from '../activities/index.js';\n" +
        "export const saga = (s?: Steps) => s ?? reserve();\n",
      'test/support/api.ts': 'export const helper = 1;\n',
      'api/routes.ts': "import { helper } from '../test/support/api.js';\nexport const routes = helper;\n",
      'runtime/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'runtime/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
      'events/relay.ts': "import { routes } from '../api/routes.js';\nexport const relay = routes;\n",
    };
    for (const [file, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(scratch, file)), { recursive: true });
      fs.writeFileSync(path.join(scratch, file), text);
    }

    const found = (await violations(scratch)).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);

    expect(found).toEqual(
      expect.arrayContaining([
        'domain-is-the-bottom: domain/orders.ts → events/kafka.ts',
        'workflows-are-deterministic: workflows/saga.ts → activities/index.ts',
        'test-code-stays-in-test: api/routes.ts → test/support/api.ts',
        'no-cycles: runtime/a.ts → runtime/b.ts',
        'roles-do-not-reach-sideways: events/relay.ts → api/routes.ts',
      ]),
    );
    // The type-only import of the activities is what workflows may do.
    expect(found.filter((f) => f.startsWith('workflows-are-deterministic'))).toHaveLength(1);
  });
});
