import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';

describe('the API settings', () => {
  it('refuse the development JWT and webhook secrets in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET.*PAYMENT_WEBHOOK_SECRET/s);
  });

  const production = {
    NODE_ENV: 'production',
    PAYMENT_WEBHOOK_SECRET: 'whsec_a_real_secret_from_the_provider',
    JWT_ISSUER: 'https://auth.example.com/',
    JWT_AUDIENCE: 'order-api',
  };

  it('accept production secrets, or a JWKS instead of the JWT secret', () => {
    expect(loadConfig({ ...production, JWT_SECRET: 'x'.repeat(48) }).jwt.secret).toHaveLength(48);
    const jwks = loadConfig({ ...production, JWT_JWKS_URL: 'https://auth.example.com/.well-known/jwks.json' });
    expect(jwks.jwt).toMatchObject({ jwksUrl: 'https://auth.example.com/.well-known/jwks.json', issuer: 'https://auth.example.com/', audience: 'order-api' });
  });

  it('refuse to run in production without the JWT issuer and audience', () => {
    const secrets = { ...production, JWT_SECRET: 'x'.repeat(48) };
    expect(() => loadConfig({ ...secrets, JWT_ISSUER: undefined })).toThrow(/JWT_ISSUER/);
    expect(() => loadConfig({ ...secrets, JWT_AUDIENCE: undefined })).toThrow(/JWT_AUDIENCE/);
    expect(() => loadConfig({ ...secrets, JWT_ISSUER: '', JWT_AUDIENCE: '' })).toThrow(/JWT_ISSUER.*JWT_AUDIENCE/s);
    expect(loadConfig({ NODE_ENV: 'development' }).jwt).toMatchObject({ issuer: undefined, audience: undefined });
  });

  it('trust no proxy unless told, then only the addresses and CIDRs of the load balancers', () => {
    expect(loadConfig({}).api.trustProxy).toBe(false);
    expect(loadConfig({ API_TRUST_PROXY: '' }).api.trustProxy).toBe(false);
    expect(() => loadConfig({ API_TRUST_PROXY: '1' })).toThrow(/API_TRUST_PROXY/);
    expect(loadConfig({ API_TRUST_PROXY: '10.0.0.0/8, 192.168.1.4,fd00::/8' }).api.trustProxy).toEqual(['10.0.0.0/8', '192.168.1.4', 'fd00::/8']);
    expect(() => loadConfig({ API_TRUST_PROXY: 'true' })).toThrow(/API_TRUST_PROXY/);
    expect(() => loadConfig({ API_TRUST_PROXY: '10.0.0.0/33' })).toThrow(/API_TRUST_PROXY/);
  });

  it('read the limits and CORS origins from the environment', () => {
    const config = loadConfig({ API_RATE_LIMIT_USER_PER_MINUTE: '7', API_CORS_ORIGINS: 'https://a.example, https://b.example' });
    expect(config.api.rateLimit.userPerMinute).toBe(7);
    expect(config.api.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });
});
