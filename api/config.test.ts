import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';

describe('the API settings', () => {
  it('refuse the development JWT and webhook secrets in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET.*PAYMENT_WEBHOOK_SECRET/s);
  });

  it('accept production secrets, or a JWKS instead of the JWT secret', () => {
    const webhook = { PAYMENT_WEBHOOK_SECRET: 'whsec_a_real_secret_from_the_provider' };
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(48), ...webhook }).jwt.secret).toHaveLength(48);
    const jwks = loadConfig({ NODE_ENV: 'production', JWT_JWKS_URL: 'https://auth.example.com/.well-known/jwks.json', ...webhook });
    expect(jwks.jwt.jwksUrl).toBe('https://auth.example.com/.well-known/jwks.json');
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
