import { STATUS_CODES } from 'node:http';
import { z } from 'zod';

/** One thing wrong with the request: where (a JSON pointer into the part named by `in`) and what. */
export const problemFieldErrorSchema = z.object({
  in: z.enum(['body', 'querystring', 'params', 'headers']),
  pointer: z.string(),
  detail: z.string(),
});
export type ProblemFieldError = z.infer<typeof problemFieldErrorSchema>;

/** RFC 9457 problem details: every error this API answers has this body, as application/problem+json. */
export const problemSchema = z
  .object({
    type: z.string().describe('A URI naming the kind of problem; stable, for programs to branch on'),
    title: z.string().describe('The kind of problem, for people'),
    status: z.number().int(),
    detail: z.string().optional().describe('What went wrong in this request'),
    instance: z.string().optional().describe('The request path'),
    request_id: z.string().optional().describe('The X-Request-Id of the request, for support'),
    errors: z.array(problemFieldErrorSchema).optional().describe('Each invalid field of the request'),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof problemSchema>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem types are URNs: stable names, not links a client must fetch. */
export function problemType(kind: string): string {
  return `urn:order-saga:problem:${kind.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()}`;
}

export function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}
