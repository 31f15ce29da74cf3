import fs from 'node:fs';
import { type z } from 'zod';

/**
 * How the API's client and the worker reach Temporal, read from Temporal's own environment
 * configuration variables (docs.temporal.io/references/client-environment-configuration), so the
 * settings a Temporal Cloud user already has work unchanged. TLS follows the same rules as the SDKs:
 * `TEMPORAL_TLS` decides when set; otherwise TLS is on when an API key or any TLS setting is given.
 */
export interface TemporalConnectionOptions {
  address: string;
  apiKey?: string;
  /** false: plaintext (the local dev server); an object: TLS, with what it names. */
  tls: false | { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } };
}

/** Temporal's environment configuration, parsed (config/index.ts declares the variables). */
export interface TemporalConnectionSettings {
  TEMPORAL_HOST: string;
  TEMPORAL_PORT: number;
  TEMPORAL_ADDRESS?: string;
  TEMPORAL_API_KEY?: string;
  TEMPORAL_TLS?: boolean;
  TEMPORAL_TLS_CLIENT_CERT_PATH?: string;
  TEMPORAL_TLS_CLIENT_CERT_DATA?: string;
  TEMPORAL_TLS_CLIENT_KEY_PATH?: string;
  TEMPORAL_TLS_CLIENT_KEY_DATA?: string;
  TEMPORAL_TLS_SERVER_CA_CERT_PATH?: string;
  TEMPORAL_TLS_SERVER_CA_CERT_DATA?: string;
  TEMPORAL_TLS_SERVER_NAME?: string;
}

type PemSetting = Extract<keyof TemporalConnectionSettings, `${string}_PATH` | `${string}_DATA`>;

/** The connection options from the settings; a file that cannot be read, or half a client pair, is an issue on `ctx`. */
export function temporalConnectionOptions(env: TemporalConnectionSettings, ctx: z.RefinementCtx): TemporalConnectionOptions {
  const pem = (pathName: PemSetting, dataName: PemSetting): Buffer | undefined => {
    const data = env[dataName];
    const file = env[pathName];
    if (typeof data === 'string' && typeof file === 'string') {
      ctx.addIssue({ code: 'custom', path: [pathName], message: `set ${pathName} or ${dataName}, not both` });
    }
    if (typeof data === 'string') return Buffer.from(data);
    if (typeof file !== 'string') return undefined;
    try {
      return fs.readFileSync(file);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
      ctx.addIssue({ code: 'custom', path: [pathName], message: `cannot read ${file}: ${reason}` });
      return undefined;
    }
  };
  const crt = pem('TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_CERT_DATA');
  const key = pem('TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_CLIENT_KEY_DATA');
  const serverRootCACertificate = pem('TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_DATA');
  const serverNameOverride = env.TEMPORAL_TLS_SERVER_NAME;
  const certGiven = env.TEMPORAL_TLS_CLIENT_CERT_PATH ?? env.TEMPORAL_TLS_CLIENT_CERT_DATA;
  const keyGiven = env.TEMPORAL_TLS_CLIENT_KEY_PATH ?? env.TEMPORAL_TLS_CLIENT_KEY_DATA;
  if (Boolean(certGiven) !== Boolean(keyGiven)) {
    ctx.addIssue({
      code: 'custom',
      path: [certGiven ? 'TEMPORAL_TLS_CLIENT_KEY_PATH' : 'TEMPORAL_TLS_CLIENT_CERT_PATH'],
      message: 'mTLS needs both the client certificate and its key',
    });
  }
  const anyTlsSetting = Boolean(certGiven ?? keyGiven ?? env.TEMPORAL_TLS_SERVER_CA_CERT_PATH ?? env.TEMPORAL_TLS_SERVER_CA_CERT_DATA ?? serverNameOverride);
  const tlsOn = env.TEMPORAL_TLS ?? (Boolean(env.TEMPORAL_API_KEY) || anyTlsSetting);
  return {
    address: env.TEMPORAL_ADDRESS ?? `${env.TEMPORAL_HOST}:${env.TEMPORAL_PORT}`,
    ...(env.TEMPORAL_API_KEY ? { apiKey: env.TEMPORAL_API_KEY } : {}),
    tls: tlsOn
      ? {
          ...(serverNameOverride ? { serverNameOverride } : {}),
          ...(serverRootCACertificate ? { serverRootCACertificate } : {}),
          ...(crt && key ? { clientCertPair: { crt, key } } : {}),
        }
      : false,
  };
}
