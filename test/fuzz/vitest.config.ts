import path from 'node:path';
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config.js';

/** `npm run fuzz`: the full hostile-input run alone (test/fuzz/full-run.fuzz.ts), with the suite's stack and setup. */
export default defineConfig({
  ...base,
  root: path.resolve(import.meta.dirname, '../..'),
  test: { ...base.test, include: ['test/fuzz/**/*.fuzz.ts'], reporters: ['default'] },
});
