#!/usr/bin/env node
// The README's commands start here, on a machine that may have nothing but Node.js and npm: this
// installs the locked dependencies when they are missing or stale, generates the Prisma client,
// then hands over to the real command. Plain JavaScript, no dependencies: it runs before they exist.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function sh(command, args, env = process.env) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.error) {
    console.error(`bootstrap: could not run ${command}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function digest(...files) {
  const hash = createHash('sha256');
  for (const file of files) hash.update(fs.existsSync(file) ? fs.readFileSync(file) : '');
  return hash.digest('hex');
}

function once(stampName, inputs, action) {
  const stamp = path.join(root, 'node_modules', stampName);
  const want = digest(...inputs.map((f) => path.join(root, f)));
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return;
  action();
  fs.writeFileSync(stamp, want);
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`bootstrap: Node.js 20.19 or later is required (this is ${process.versions.node})`);
  process.exit(1);
}

// A checkout whose node_modules links to another's (a git worktree) shares that install: npm ci
// here would empty the other checkout's node_modules under whatever runs from it.
const sharedInstall = fs.lstatSync(path.join(root, 'node_modules'), { throwIfNoEntry: false })?.isSymbolicLink();
if (sharedInstall) {
  console.log('bootstrap: node_modules is a link to another checkout\'s install; leaving it as it is');
} else {
  once('.order-saga-deps', ['package-lock.json'], () => {
    console.log('bootstrap: installing dependencies (npm ci)');
    sh('npm', ['ci', '--no-audit', '--no-fund']);
  });
}

const schema = path.join(root, 'prisma', 'schema.prisma');
if (fs.existsSync(schema)) {
  // npm ci's postinstall generated it too; this catches a schema changed since (a pull, a branch switch).
  once('.order-saga-prisma', ['package-lock.json', 'prisma/schema.prisma'], () => {
    sh(process.execPath, [path.join(root, 'scripts', 'generate-prisma-client.mjs')]);
  });
}

const [command, ...args] = process.argv.slice(2);
const commands = {
  start: [bin('tsx'), ['scripts/start.ts', ...args]],
  test: [bin('vitest'), ['run', ...args]],
  bench: [bin('tsx'), ['bench/main.ts', ...args]],
};
if (!commands[command]) {
  console.error(`bootstrap: unknown command '${command}'; one of ${Object.keys(commands).join(', ')}`);
  process.exit(2);
}
// The command runs as a child that receives the signals sent to this process (a service manager's
// SIGTERM, not only a terminal's Ctrl-C), and its exit code becomes this one's.
const [program, programArgs] = commands[command];
const child = spawn(program, programArgs, { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
