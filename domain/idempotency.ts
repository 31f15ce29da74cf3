import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sqlOf, type Db } from '../db/prisma.js';
import { type Sql } from '../db/sql.js';
import { AppError, IdempotencyKeyReusedError } from './errors.js';

/** A request with this key is still running and did not finish while we waited: try again later. */
export class IdempotencyKeyInProgressError extends AppError {
  readonly type = 'IdempotencyKeyInProgress';
  readonly status = 409;
  readonly retryable = true;
}

/** Another request claimed the key first (in a transaction that has now committed). */
export class IdempotencyKeyTakenError extends Error {
  override name = 'IdempotencyKeyTakenError';
}

export interface IdempotencyScope {
  userId: string;
  key: string;
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

/** The fingerprint of a request's parameters: the same JSON in any key order hashes the same. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Where a key stands: free, answered, or claimed by a request that ended without finishing its work. */
export type KeyLookup =
  | { state: 'free' }
  | { state: 'completed'; response: StoredResponse }
  | { state: 'abandoned'; resourceId: string };

/**
 * What an earlier request with this key answered, waiting (up to `waitMs`) while it still runs. A
 * key sent before with other parameters is refused (422), as Stripe does. An interrupted claim, or
 * one older than `abandonedAfterMs` (its request's process died between writing its resource and
 * answering), is `abandoned`: the caller may finish that request's work for it.
 */
export async function lookUpIdempotencyKey(
  db: Db | Sql,
  scope: IdempotencyScope & { requestHash: string },
  wait: { waitMs: number; abandonedAfterMs: number; pollMs?: number },
): Promise<KeyLookup> {
  const deadline = Date.now() + wait.waitMs;
  for (;;) {
    const [record] = await sqlOf(db).$queryRaw<
      { requestHash: string; state: string; responseStatus: number | null; responseBody: unknown; resourceId: string | null; createdAt: Date }[]
    >`
      SELECT request_hash AS "requestHash", state::text AS state, response_status AS "responseStatus",
             response_body AS "responseBody", resource_id AS "resourceId", created_at AS "createdAt"
      FROM idempotency_records WHERE user_id = ${scope.userId} AND key = ${scope.key}`;
    if (!record) return { state: 'free' };
    if (record.requestHash !== scope.requestHash) {
      throw new IdempotencyKeyReusedError(
        `Idempotency-Key ${scope.key} was already used with different parameters; use a new key for a new request`,
        { key: scope.key },
      );
    }
    if (record.state === 'completed' && record.responseStatus !== null) {
      return { state: 'completed', response: { status: record.responseStatus, body: record.responseBody } };
    }
    const aged = Date.now() - record.createdAt.getTime() > wait.abandonedAfterMs;
    if (record.resourceId && (record.state === 'interrupted' || aged)) {
      return { state: 'abandoned', resourceId: record.resourceId };
    }
    if (Date.now() >= deadline) {
      throw new IdempotencyKeyInProgressError(`a request with Idempotency-Key ${scope.key} is still being processed`, {
        key: scope.key,
      });
    }
    await sleep(wait.pollMs ?? 50);
  }
}

/**
 * Claims the key, first thing in the caller's transaction, for the resource the request creates.
 * The (user_id, key) primary key makes one claim win: a concurrent claim waits for the winner's
 * transaction and then throws IdempotencyKeyTakenError, so its transaction writes nothing.
 */
export async function claimIdempotencyKey(
  tx: Sql,
  claim: IdempotencyScope & { requestHash: string; resourceId: string },
): Promise<void> {
  const inserted = await tx.$executeRaw`
    INSERT INTO idempotency_records (user_id, key, request_hash, state, resource_id, updated_at)
    VALUES (${claim.userId}, ${claim.key}, ${claim.requestHash}, 'in_progress', ${claim.resourceId}, now())
    ON CONFLICT (user_id, key) DO NOTHING`;
  if (inserted !== 1) throw new IdempotencyKeyTakenError(`Idempotency-Key ${claim.key} is taken`);
}

/** The request finished: its response is stored, and repeats get it at once. */
export async function completeIdempotencyKey(db: Db | Sql, scope: IdempotencyScope, response: StoredResponse): Promise<void> {
  await sqlOf(db).$executeRaw`
    UPDATE idempotency_records
    SET state = 'completed', response_status = ${response.status}, response_body = ${JSON.stringify(response.body)}::jsonb, updated_at = now()
    WHERE user_id = ${scope.userId} AND key = ${scope.key}`;
}

/**
 * The request wrote its resource but cannot tell whether the rest of its work happened (a call
 * whose answer was lost): a repeat with the key finishes it at once rather than after
 * `abandonedAfterMs`.
 */
export async function interruptIdempotencyKey(db: Db, scope: IdempotencyScope): Promise<void> {
  await db.idempotencyRecord.updateMany({
    where: { userId: scope.userId, key: scope.key, state: 'in_progress' },
    data: { state: 'interrupted' },
  });
}

/** The request could not finish (a dependency failed): the key is free for a retry. */
export async function releaseIdempotencyKey(db: Db, scope: IdempotencyScope): Promise<void> {
  await db.idempotencyRecord.deleteMany({ where: { userId: scope.userId, key: scope.key } });
}
