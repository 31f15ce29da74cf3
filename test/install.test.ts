import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';

const exec = promisify(execFile);

describe('installing the dependencies', () => {
  it("generates the Prisma client in npm's postinstall, offline, so typecheck works right after npm ci", async () => {
    const scripts = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.postinstall).toBe('node scripts/generate-prisma-client.mjs');

    // A fresh checkout, as npm ci leaves it: the dependencies (linked, so nothing is installed) and no generated/.
    const checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'order-saga-install-'));
    try {
      for (const entry of ['package.json', 'prisma.config.ts', 'prisma', 'config', 'scripts']) {
        fs.cpSync(path.join(projectRoot, entry), path.join(checkout, entry), { recursive: true });
      }
      fs.symlinkSync(fs.realpathSync(path.join(projectRoot, 'node_modules')), path.join(checkout, 'node_modules'));
      const env = { ...process.env };
      delete env.PRISMA_SCHEMA_ENGINE_BINARY;
      await exec('npm', ['run', '--silent', 'postinstall'], { cwd: checkout, env });
      const client = fs.readFileSync(path.join(checkout, 'generated', 'prisma', 'client.ts'), 'utf8');
      expect(client).toContain('export const PrismaClient');
    } finally {
      fs.rmSync(checkout, { recursive: true, force: true });
    }
  });
});
