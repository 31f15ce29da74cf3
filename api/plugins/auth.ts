import { type FastifyInstance, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ForbiddenError, type Caller } from '../auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyInstance {
    /** An onRequest hook: 401 unless the request carries a valid bearer token. */
    authenticate(request: FastifyRequest): Promise<void>;
    /** An onRequest hook to run after `authenticate`: 403 unless the caller has the role. */
    requireRole(role: string): (request: FastifyRequest) => Promise<void>;
  }
}

/** The signed-in user of a route that runs `authenticate`. */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new Error(`${request.url} reads the caller but does not authenticate`);
  return request.caller;
}

export default fp(
  async (app: FastifyInstance) => {
    app.decorateRequest('caller', null);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      request.caller = await app.services.verifyToken(request.headers.authorization);
    });
    app.decorate('requireRole', (role: string) => async (request: FastifyRequest) => {
      if (!callerOf(request).roles.includes(role)) throw new ForbiddenError(`this needs the ${role} role, which the token does not grant`);
    });
  },
  { name: 'auth', dependencies: ['services'] },
);
