import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';

const readme = fs.readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
const scripts = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

describe('the README', () => {
  it('keeps its two commands', () => {
    expect(readme).toContain('npm start   # installs what is missing, starts the whole system, prints its URLs');
    expect(readme).toContain('npm test    # the full test suite against the real servers');
  });

  it('names only npm scripts that exist', () => {
    const named = new Set([...readme.matchAll(/npm run (?:-s )?([\w:-]+)/g)].map((m) => m[1]!));
    expect(named.size).toBeGreaterThan(10);
    for (const name of named) expect(scripts, `npm run ${name}`).toHaveProperty(name);
  });

  it('says what the no-Docker path needs and what to do without it', () => {
    expect(readme).toMatch(/Both need Linux, .*`jq`/s);
    expect(readme).toMatch(/\*\*On macOS\*\*.*docker compose up/s);
    expect(readme).toContain('npm test -- api/gateway.test.ts');
    const troubleshooting = readme.slice(readme.indexOf('## Troubleshooting'));
    for (const topic of ['already in use', 'first start is slow', 'Kafka does not start', 'stale `.stack`', 'Starting from nothing']) {
      expect(troubleshooting, topic).toContain(topic);
    }
  });
});
