import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { type Config } from '../config/index.js';
import { type Clock } from '../domain/clock.js';
import { AppError } from '../domain/errors.js';
import { isStorableText } from './plugins/text.js';

/** Who made the request: the token's `sub`, and its roles (`role` and `roles` claims). */
export interface Caller {
  userId: string;
  roles: string[];
}

/** A missing, malformed, badly signed or expired token: 401. */
export class UnauthorizedError extends AppError {
  readonly type = 'Unauthorized';
  readonly status = 401;
  readonly retryable = false;

  constructor(message: string, options?: ErrorOptions) {
    super(message, {}, options);
  }

  override headers(): Record<string, string> {
    return { 'www-authenticate': `Bearer error="invalid_token", error_description="${this.message.replaceAll('"', "'")}"` };
  }
}

/** A valid token without the role a route requires: 403. */
export class ForbiddenError extends AppError {
  readonly type = 'Forbidden';
  readonly status = 403;
  readonly retryable = false;
}

/** The roles a token grants: its `role` (a string) and `roles` (a list of strings) claims together. */
function rolesOf(payload: JWTPayload): string[] {
  const roles = new Set<string>();
  if (typeof payload.role === 'string') roles.add(payload.role);
  if (Array.isArray(payload.roles)) for (const role of payload.roles) if (typeof role === 'string') roles.add(role);
  return [...roles];
}

export type TokenVerifier = (authorization: string | undefined) => Promise<Caller>;

/**
 * Verifies `Authorization: Bearer <JWT>`: HS256 with the shared secret, or RS256 with keys from
 * the JWKS when one is configured. `exp` and `sub` are required; `alg: none` and any algorithm
 * other than the one configured are refused, so a token cannot choose how it is checked.
 */
export function createTokenVerifier(jwt: Config['jwt'], clock: Clock): TokenVerifier {
  const jwks: JWTVerifyGetKey | undefined = jwt.jwksUrl ? createRemoteJWKSet(new URL(jwt.jwksUrl)) : undefined;
  const secret = hs256Key(jwt.secret);
  const verify = (token: string, options: JWTVerifyOptions) =>
    jwks ? jwtVerify(token, jwks, { ...options, algorithms: ['RS256'] }) : jwtVerify(token, secret, { ...options, algorithms: ['HS256'] });

  return async (authorization) => {
    const match = /^Bearer ([\w-]+\.[\w-]+\.[\w-]*)$/i.exec(authorization ?? '');
    if (!match?.[1]) throw new UnauthorizedError('a bearer token is required: Authorization: Bearer <JWT>');
    try {
      const { payload } = await verify(match[1], {
        requiredClaims: ['exp', 'sub'],
        issuer: jwt.issuer,
        audience: jwt.audience,
        currentDate: clock(),
      });
      if (typeof payload.sub !== 'string' || !payload.sub || !isStorableText(payload.sub)) {
        throw new UnauthorizedError('the token\'s subject is not a user id (a non-empty string without NUL or lone surrogates)');
      }
      return { userId: payload.sub, roles: rolesOf(payload) };
    } catch (error) {
      if (error instanceof UnauthorizedError) throw error;
      if (error instanceof errors.JWTExpired) throw new UnauthorizedError('the token has expired', { cause: error });
      if (error instanceof errors.JOSEError) throw new UnauthorizedError(`the token is invalid: ${error.message}`, { cause: error });
      throw error;
    }
  };
}

/** A token for `userId` (with `roles`, if any), signed with the HS256 secret: what `npm run token` prints in development. */
export async function signDevToken(
  jwt: Config['jwt'],
  userId: string,
  expiresAt: Date = new Date(Date.now() + 60 * 60 * 1000),
  roles: string[] = [],
): Promise<string> {
  let token = new SignJWT(roles.length ? { roles } : {})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000));
  if (jwt.issuer) token = token.setIssuer(jwt.issuer);
  if (jwt.audience) token = token.setAudience(jwt.audience);
  return token.sign(hs256Key(jwt.secret));
}

function hs256Key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}
