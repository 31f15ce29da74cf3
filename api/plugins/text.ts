import { type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../domain/errors.js';
import { type ProblemFieldError } from '../problem.js';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Whether a string can go where the API's strings go: PostgreSQL text holds no NUL, and a lone
 * surrogate has no UTF-8 form (PostgreSQL's jsonb refuses its escape; Temporal's protobuf payloads
 * cannot carry it, so a saga step failing with it in its message would stop the worker).
 */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/** The JSON pointer of the first string or member name in `value` that is not storable text. */
function unstorableTextAt(value: unknown): string | undefined {
  // A loop, not recursion: a body may nest deeper than the stack goes.
  const pending: [unknown, string][] = [[value, '']];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [at, pointer] = next;
    if (typeof at === 'string' && !isStorableText(at)) return pointer;
    if (at === null || typeof at !== 'object') continue;
    for (const [key, child] of Object.entries(at)) {
      const path = `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
      if (!isStorableText(key)) return path;
      pending.push([child, path]);
    }
  }
  return undefined;
}

/** A string of the request that is not storable text: 400, before anything reads it. */
class UnstorableTextError extends AppError {
  readonly type = 'Validation';
  readonly status = 400;
  readonly retryable = false;

  constructor(private readonly field: ProblemFieldError) {
    super(`the request ${field.in} is invalid: ${field.pointer} ${field.detail}`);
  }

  override problemMembers(): Record<string, unknown> {
    return { errors: [this.field] };
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads what it needs of its body itself and stores none of it: any text may come. */
    anyTextInBody?: boolean;
  }
}

/** Refuses a request whose body, query or path holds a NUL or a lone surrogate in any string. */
export default fp(
  async (app: FastifyInstance) => {
    app.addHook('preValidation', async (request) => {
      const body = request.routeOptions.config.anyTextInBody ? undefined : request.body;
      for (const [where, value] of [
        ['params', request.params],
        ['querystring', request.query],
        ['body', body],
      ] as const) {
        const pointer = unstorableTextAt(value);
        if (pointer !== undefined) {
          throw new UnstorableTextError({ in: where, pointer, detail: 'holds a NUL character or a lone surrogate, which text here cannot hold' });
        }
      }
    });
  },
  { name: 'text' },
);
