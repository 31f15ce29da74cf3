import { createHash } from 'node:crypto';
import { type FastifyReply, type FastifyRequest } from 'fastify';

/** Seed §7's response cache keeps catalog answers for 300 s; clients and CDNs may do the same. */
const CATALOG_CACHE_CONTROL = 'public, max-age=300';

/**
 * Makes a public GET answer cacheable: sets a strong ETag of the body and Cache-Control, and says
 * whether the client already holds this version (If-None-Match), so the route answers 304.
 */
export function isNotModified(request: FastifyRequest, reply: FastifyReply, body: unknown): boolean {
  const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url')}"`;
  reply.header('etag', etag).header('cache-control', CATALOG_CACHE_CONTROL);
  const known = request.headers['if-none-match']?.split(',').map((t) => t.trim().replace(/^W\//, ''));
  return Boolean(known?.includes(etag) || known?.includes('*'));
}
