import { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type Duplex } from 'node:stream';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError } from '../../domain/errors.js';
import { PROBLEM_CONTENT_TYPE, problemType, statusTitle, type Problem, type ProblemFieldError } from '../problem.js';

/** Fastify's own request errors, by code: what kind of problem each is. */
const fastifyProblemKinds: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BodyTooLarge',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UnsupportedMediaType',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'InvalidContentLength',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'InvalidJson',
  FST_ERR_CTP_INVALID_JSON_BODY: 'InvalidJson',
};

function problem(request: FastifyRequest, status: number, kind: string | undefined, detail: string, extra: Partial<Problem> = {}): Problem {
  return {
    type: kind ? problemType(kind) : 'about:blank',
    title: statusTitle(status),
    status,
    detail,
    instance: request.url.split('?')[0],
    request_id: request.id,
    ...extra,
  };
}

/** A zod issue, as fastify-type-provider-zod passes it on; `path` is relative to the issue that holds it. */
interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  errors?: Issue[][];
}

function valueAt(value: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((at, key) => (at !== null && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[key] : undefined), value);
}

/**
 * The field errors of one issue. A value that fits no shape of a union (oneOf) is told what is
 * wrong against the shape it came closest to (the fewest keys unknown to that shape or missing),
 * not "invalid input"; when no one shape is closest, the union's own message names the shapes.
 */
function fieldIssues(issue: Issue, input: unknown): Issue[] {
  if (issue.code !== 'invalid_union' || !issue.errors?.length) return [issue];
  const value = valueAt(input, issue.path);
  const keyMisses = issue.errors.map((shape) =>
    shape.reduce((misses, i) => {
      if (i.code === 'unrecognized_keys' && i.path.length === 0) return misses + (i.keys?.length ?? 1);
      return i.path.length === 1 && valueAt(value, i.path) === undefined ? misses + 1 : misses;
    }, 0),
  );
  const closest = issue.errors.filter((_, index) => keyMisses[index] === Math.min(...keyMisses));
  if (closest.length !== 1) return [issue];
  return closest[0]!.flatMap((i) => fieldIssues({ ...i, path: [...issue.path, ...i.path] }, input));
}

/** Maps any error to a problem, and the headers that go with it. */
function toProblem(error: unknown, request: FastifyRequest): { problem: Problem; headers: Record<string, string> } {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error.validationContext ?? 'body') as ProblemFieldError['in'];
    const input = { body: request.body, querystring: request.query, params: request.params, headers: request.headers }[where];
    const issues = error.validation.flatMap((v) =>
      fieldIssues({ ...(v.params as Partial<Issue>), code: v.keyword, path: v.instancePath.split('/').filter(Boolean), message: v.message ?? 'is invalid' }, input),
    );
    const errors = issues.map((i) => ({ in: where, pointer: `/${i.path.map(String).join('/')}`, detail: i.message }));
    const detail = `the request ${where} is invalid: ${errors.map((e) => `${e.pointer} ${e.detail}`).join('; ')}`;
    return { problem: problem(request, 400, 'Validation', detail, { errors }), headers: {} };
  }
  if (error instanceof AppError) {
    return { problem: problem(request, error.status, error.type, error.message, error.problemMembers()), headers: error.headers() };
  }
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const kind = fastifyError.code ? fastifyProblemKinds[fastifyError.code] : undefined;
    return { problem: problem(request, fastifyError.statusCode, kind, fastifyError.message ?? statusTitle(fastifyError.statusCode)), headers: {} };
  }
  return { problem: problem(request, 500, undefined, 'the server failed to answer; the request id helps support find out why'), headers: {} };
}

/** Answers with the problem an error is; server-side failures are logged with the request's correlation id. */
export function replyWithProblem(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { problem: body, headers } = toProblem(error, request);
  if (body.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  }
  return reply.code(body.status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(body);
}

/**
 * Node's HTTP parser refused the request before Fastify saw it (a malformed Content-Length, headers
 * too large, too slow): the answer is a problem too, written on the socket, which then closes.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify({ type: 'about:blank', title: statusTitle(status), status, detail: 'the request is not HTTP this server can read' });
  socket.end(
    `HTTP/1.1 ${status} ${statusTitle(status)}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** A path the API has, asked with a method it does not answer: 405 with the methods it does (RFC 9110 §15.5.6). */
class MethodNotAllowedError extends AppError {
  readonly type = 'MethodNotAllowed';
  readonly status = 405;
  readonly retryable = false;

  constructor(
    method: string,
    path: string,
    readonly allowed: string[],
  ) {
    super(`${path} does not answer ${method}, only ${allowed.join(', ')}`, { method, path, allowed });
  }

  override headers(): Record<string, string> {
    return { allow: this.allowed.join(', ') };
  }
}

/** The methods a route can have here (OPTIONS is CORS's, on every path). */
const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * The one error handler: every error becomes an RFC 9457 problem (application/problem+json).
 * Server-side failures are logged with the request's correlation id; client errors are not noise.
 * A request no route takes is 405 when its path has routes for other methods, else 404.
 */
export default fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler(replyWithProblem);
    // Before the body is read: a method's unread body must not turn the 405 into a 400 or 415.
    app.addHook('onRequest', async (request) => {
      if (!request.is404) return;
      const path = request.url.split('?')[0] ?? '/';
      const allowed = ROUTE_METHODS.filter((method) => app.findRoute({ method, url: path }));
      if (allowed.length) throw new MethodNotAllowedError(request.method, path, allowed);
    });
    app.setNotFoundHandler((request, reply) => {
      const body = problem(request, 404, 'NotFound', `no route for ${request.method} ${request.url.split('?')[0]}`);
      return reply.code(404).type(PROBLEM_CONTENT_TYPE).send(body);
    });
  },
  { name: 'problems' },
);
