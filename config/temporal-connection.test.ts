import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig } from '../test/support/env.js';
import { loadConfig } from './index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-tls-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const where = path.join(dir, name);
  fs.writeFileSync(where, text);
  return where;
}

describe("the Temporal connection, from Temporal's environment configuration", () => {
  it('is the local stack in plaintext by default, and TEMPORAL_HOST/TEMPORAL_PORT still move it', () => {
    expect(loadConfig({}).temporal.connection).toEqual({ address: '127.0.0.1:7233', tls: false });
    expect(loadConfig({ TEMPORAL_HOST: '10.0.0.5', TEMPORAL_PORT: '17233' }).temporal.connection.address).toBe('10.0.0.5:17233');
  });

  it('takes TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, and leaves the local stack where it listens', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'shop.a1b2c.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'shop.a1b2c' });
    expect(config.temporal).toMatchObject({ address: 'shop.a1b2c.tmprl.cloud:7233', namespace: 'shop.a1b2c', localAddress: '127.0.0.1:7233' });
    expect(loadConfig({ TEMPORAL_ADDRESS: '' }).temporal.address).toBe('127.0.0.1:7233');
  });

  it('turns TLS on with an API key, as Temporal does, unless TEMPORAL_TLS=false', () => {
    expect(loadConfig({ TEMPORAL_API_KEY: 'key-1' }).temporal.connection).toEqual({ address: '127.0.0.1:7233', apiKey: 'key-1', tls: {} });
    expect(loadConfig({ TEMPORAL_API_KEY: 'key-1', TEMPORAL_TLS: 'false' }).temporal.connection.tls).toBe(false);
    expect(loadConfig({ TEMPORAL_TLS: 'true' }).temporal.connection.tls).toEqual({});
    expect(() => loadConfig({ TEMPORAL_TLS: 'yes' })).toThrow(/TEMPORAL_TLS/);
  });

  it('reads the client certificate, its key and the server CA from their files, or takes their PEM text', () => {
    const connection = loadConfig({
      TEMPORAL_TLS_CLIENT_CERT_PATH: file('client.pem', 'CERT'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: file('client.key', 'KEY'),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: file('ca.pem', 'CA'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    }).temporal.connection;
    expect(connection.tls).toEqual({
      serverNameOverride: 'temporal.internal',
      serverRootCACertificate: Buffer.from('CA'),
      clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') },
    });
    const inline = loadConfig({ TEMPORAL_TLS_CLIENT_CERT_DATA: 'CERT2', TEMPORAL_TLS_CLIENT_KEY_DATA: 'KEY2' }).temporal.connection;
    expect(inline.tls).toEqual({ clientCertPair: { crt: Buffer.from('CERT2'), key: Buffer.from('KEY2') } });
  });

  it('refuses a certificate file that is not there, half a client pair, or a file and its text at once', () => {
    const missing = path.join(dir, 'nowhere.pem');
    expect(() => loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PATH: missing, TEMPORAL_TLS_CLIENT_KEY_PATH: file('k.key', 'KEY') })).toThrow(
      `TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read ${missing}: no such file`,
    );
    expect(() => loadConfig({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: missing })).toThrow(/TEMPORAL_TLS_SERVER_CA_CERT_PATH: cannot read .*no such file/);
    expect(() => loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PATH: file('c.pem', 'CERT') })).toThrow(/TEMPORAL_TLS_CLIENT_KEY_PATH: mTLS needs both/);
    expect(() => loadConfig({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: file('ca2.pem', 'CA'), TEMPORAL_TLS_SERVER_CA_CERT_DATA: 'CA' })).toThrow(/not both/);
  });

  it('connects the client and the worker to the local server with an API key and TLS off, and TLS on does not pass as plaintext', async () => {
    const local = testConfig();
    const config = loadConfig({ ...process.env, TEMPORAL_ADDRESS: local.temporal.address, TEMPORAL_API_KEY: 'a-key-the-dev-server-ignores', TEMPORAL_TLS: 'false' });
    expect(config.temporal.connection).toMatchObject({ apiKey: 'a-key-the-dev-server-ignores', tls: false });

    const connection = await Connection.connect(config.temporal.connection);
    try {
      const client = new Client({ connection, namespace: config.temporal.namespace });
      const namespace = await client.workflowService.describeNamespace({ namespace: config.temporal.namespace });
      expect(namespace.namespaceInfo?.name).toBe(config.temporal.namespace);
    } finally {
      await connection.close();
    }
    const native = await NativeConnection.connect(config.temporal.connection);
    await native.close();

    const withTls = loadConfig({ ...process.env, TEMPORAL_ADDRESS: local.temporal.address, TEMPORAL_API_KEY: 'a-key' }).temporal.connection;
    expect(withTls.tls).toEqual({});
    await expect(Connection.connect({ ...withTls, connectTimeout: '2 seconds' })).rejects.toThrow();
  });
});
