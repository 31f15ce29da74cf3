#!/usr/bin/env node
// Generates the Prisma client into generated/ (npm's postinstall, and bootstrap when the schema
// changed), so typecheck and tests work right after `npm ci`. `prisma generate` runs no schema
// engine, but the CLI insists one is named and would download it (no network here): any existing
// file does. Plain JavaScript: it runs before the TypeScript tooling is there.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const prisma = path.join(root, 'node_modules', '.bin', 'prisma');
if (!fs.existsSync(prisma)) {
  // A production install (--omit=dev) has no Prisma CLI; its image copies the client generated at build.
  console.log('generate-prisma-client: no Prisma CLI (dev dependencies not installed); skipped');
  process.exit(0);
}
const result = spawnSync(prisma, ['generate'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath },
});
if (result.error) console.error(`generate-prisma-client: could not run prisma: ${result.error.message}`);
process.exit(result.status ?? 1);
