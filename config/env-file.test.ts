import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyEnvFile, loadConfig, projectRoot } from './index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'env-file-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the .env file', () => {
  it('adds its settings under the environment: a variable already set wins', () => {
    const file = path.join(dir, '.env');
    fs.writeFileSync(file, '# local overrides\nKAFKA_PORT=19092\nAPI_PORT=3999\nMAIL_FROM="Shop <shop@example.com>"\n');
    const env: NodeJS.ProcessEnv = { API_PORT: '4000' };
    applyEnvFile(env, file);
    expect(env).toEqual({ API_PORT: '4000', KAFKA_PORT: '19092', MAIL_FROM: 'Shop <shop@example.com>' });
    const config = loadConfig(env);
    expect([config.kafka.port, config.api.port, config.mail.from]).toEqual([19092, 4000, 'Shop <shop@example.com>']);
  });

  it('is optional', () => {
    const env: NodeJS.ProcessEnv = { API_PORT: '4000' };
    applyEnvFile(env, path.join(dir, 'absent.env'));
    expect(env).toEqual({ API_PORT: '4000' });
  });

  it('copied from .env.example, configures exactly the defaults', () => {
    const env: NodeJS.ProcessEnv = {};
    applyEnvFile(env, path.join(projectRoot, '.env.example'));
    expect(Object.keys(env).length).toBeGreaterThan(40);
    const cwd = process.cwd();
    process.chdir(projectRoot);
    try {
      expect(loadConfig(env)).toEqual(loadConfig({}));
    } finally {
      process.chdir(cwd);
    }
  });
});
