import { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { type z } from 'zod';
import { AppError, ValidationError } from '../../domain/errors.js';
import { UnauthorizedError } from '../auth.js';
import { DependencyUnavailableError } from '../circuit-breaker.js';
import { PROBLEM_CONTENT_TYPE, problemType, statusTitle, type Problem, type ProblemFieldError } from '../problem.js';
import { InvalidSignatureError } from '../webhook-signature.js';

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

function fieldErrors(issues: readonly Pick<z.core.$ZodIssue, 'path' | 'message'>[], where: ProblemFieldError['in']): ProblemFieldError[] {
  return issues.map((i) => ({ in: where, pointer: `/${i.path.map(String).join('/')}`, detail: i.message }));
}

/** Maps any error to a problem, and the headers that go with it. */
function toProblem(error: unknown, request: FastifyRequest): { problem: Problem; headers: Record<string, string> } {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error.validationContext ?? 'body') as ProblemFieldError['in'];
    const errors = error.validation.map((v) => ({ in: where, pointer: v.instancePath || '/', detail: v.message ?? 'is invalid' }));
    const detail = `the request ${where} is invalid: ${errors.map((e) => `${e.pointer} ${e.detail}`).join('; ')}`;
    return { problem: problem(request, 400, 'Validation', detail, { errors }), headers: {} };
  }
  if (error instanceof UnauthorizedError) {
    return {
      problem: problem(request, 401, 'Unauthorized', error.message),
      headers: { 'www-authenticate': `Bearer error="invalid_token", error_description="${error.message.replaceAll('"', "'")}"` },
    };
  }
  if (error instanceof InvalidSignatureError) {
    return { problem: problem(request, 400, 'InvalidSignature', error.message), headers: {} };
  }
  if (error instanceof DependencyUnavailableError) {
    return {
      problem: problem(request, 503, 'DependencyUnavailable', `${error.message}; retry after ${error.retryAfterSeconds} s`),
      headers: { 'retry-after': String(error.retryAfterSeconds) },
    };
  }
  if (error instanceof ValidationError) {
    const issues = Array.isArray(error.details.issues) ? (error.details.issues as z.core.$ZodIssue[]) : [];
    return { problem: problem(request, 400, error.type, error.message, issues.length ? { errors: fieldErrors(issues, 'body') } : {}), headers: {} };
  }
  if (error instanceof AppError) {
    return { problem: problem(request, error.status, error.type, error.message), headers: {} };
  }
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const kind = fastifyError.code ? fastifyProblemKinds[fastifyError.code] : undefined;
    return { problem: problem(request, fastifyError.statusCode, kind, fastifyError.message ?? statusTitle(fastifyError.statusCode)), headers: {} };
  }
  return { problem: problem(request, 500, undefined, 'the server failed to answer; the request id helps support find out why'), headers: {} };
}

/**
 * The one error handler: every error becomes an RFC 9457 problem (application/problem+json).
 * Server-side failures are logged with the request's correlation id; client errors are not noise.
 */
export default fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error, request, reply: FastifyReply) => {
      const { problem: body, headers } = toProblem(error, request);
      if (body.status >= 500) {
        request.log.error({ err: error }, 'request failed');
      }
      return reply.code(body.status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(body);
    });
    app.setNotFoundHandler((request, reply) => {
      const body = problem(request, 404, 'NotFound', `no route for ${request.method} ${request.url.split('?')[0]}`);
      return reply.code(404).type(PROBLEM_CONTENT_TYPE).send(body);
    });
  },
  { name: 'problems' },
);
