import { type Client as TemporalClient } from '@temporalio/client';
import { type Kafka, type Admin } from 'kafkajs';
import type pg from 'pg';
import { consumerGroups, type Topic } from '../domain/events/topics.js';
import { deadLetterHeaders } from '../events/consumer.js';
import { type KafkaNames } from '../events/kafka-names.js';
import { createAnalyticsSubscriber } from '../events/subscribers/analytics.js';
import { createNotificationSubscriber } from '../events/subscribers/notification.js';
import { createSearchSubscriber } from '../events/subscribers/search.js';

export interface InvariantResult {
  name: string;
  /** How many things (orders, rows, events, messages) it looked at. */
  checked: number;
  violations: string[];
}

export interface InvariantInputs {
  db: pg.Pool;
  providerUrl: string;
  kafka: Kafka;
  admin: Admin;
  names: KafkaNames;
  temporal: TemporalClient;
  taskQueue: string;
  /** on_hand of every stock row before the load began. */
  initialStock: Map<string, number>;
  /** Orders the API accepted (202). */
  accepted: Iterable<string>;
  /** The ids (header `chaos-poison`) of the poison messages injected on purpose, by topic. */
  poison: { id: string; topic: Topic }[];
  /** Times the sampler found a stock row out of bounds during the run, and how often it looked. */
  stockSamples: { taken: number; outOfBounds: string[] };
}

interface OrderRow {
  id: string;
  status: string;
  total: string;
  currency: string;
}

interface Charge {
  id: string;
  amount: number;
  status: string;
}

const finalEventOf: Record<string, string> = { confirmed: 'order.confirmed', failed: 'order.failed', cancelled: 'order.cancelled' };
/**
 * The order status change each event announces (CONTRACT §3); awaiting_payment has none of its
 * own. `inventory.reserved` announces the reservation, committed in its own transaction before the
 * order moves to inventory_reserved: a worker lost between the two and a cancel that comes first
 * leave a reservation (released again) and an order that never was inventory_reserved.
 */
const statusOfEvent: Record<string, string> = {
  'order.created': 'pending',
  'order.confirmed': 'confirmed',
  'order.failed': 'failed',
  'order.cancelled': 'cancelled',
};

function result(name: string, checked: number, violations: string[]): InvariantResult {
  return { name, checked, violations };
}

/** Every message a topic holds now, from the beginning to each partition's end, in partition order. */
export async function readWholeTopic(kafka: Kafka, admin: Admin, topic: string): Promise<{ key: string | null; value: string | null; headers: Record<string, string>; partition: number }[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const ends = new Map(offsets.filter((p) => Number(p.high) > Number(p.low)).map((p) => [p.partition, Number(p.high) - 1]));
  if (!ends.size) return [];
  const consumer = kafka.consumer({ groupId: `chaos-reader-${Date.now()}-${Math.random().toString(36).slice(2)}` });
  const messages: { key: string | null; value: string | null; headers: Record<string, string>; partition: number }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const reached = new Set<number>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${topic}: read ${messages.length} messages in 120 s, not to the end`)), 120_000);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(message.headers ?? {})) if (value !== undefined) headers[name] = String(Array.isArray(value) ? value[0] : value);
          messages.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers, partition });
          if (Number(message.offset) >= ends.get(partition)!) reached.add(partition);
          if (reached.size === ends.size) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    return messages;
  } finally {
    await consumer.disconnect();
  }
}

/** The event types each consumer group acts on (and records in the inbox), from the subscribers themselves. */
const handledBy = new Map(
  [
    createNotificationSubscriber({
      mailer: { send: () => Promise.reject(new Error('never sends')), close: () => undefined },
      clock: () => new Date(),
      recipientDomain: 'example.com',
    }),
    createSearchSubscriber(),
    createAnalyticsSubscriber(),
  ].map((s): [string, Set<string>] => [s.group, new Set(Object.keys(s.handlers))]),
);

/** Checks what a chaos run must leave behind (issue 11); each result lists its violations. */
export async function checkInvariants(inputs: InvariantInputs): Promise<InvariantResult[]> {
  const { db } = inputs;
  const results: InvariantResult[] = [];
  const { rows: orders } = await db.query<OrderRow>(`SELECT id::text, status::text, total::text, currency FROM orders`);
  const byId = new Map(orders.map((o) => [o.id, o]));

  // 1. Every accepted order (and every order written at all) is terminal.
  const accepted = [...inputs.accepted];
  results.push(
    result('every accepted order is terminal', accepted.length + orders.length, [
      ...accepted.filter((id) => !byId.has(id)).map((id) => `accepted order ${id} is not in the database`),
      ...orders.filter((o) => !finalEventOf[o.status]).map((o) => `order ${o.id} ended ${o.status}`),
    ]),
  );

  // 2–4. The provider's truth: charges per order.
  const chargeViolations: string[] = [];
  const netViolations: string[] = [];
  const charges = new Map<string, Charge[]>();
  for (let i = 0; i < orders.length; i += 25) {
    await Promise.all(
      orders.slice(i, i + 25).map(async (o) => {
        const response = await fetch(`${inputs.providerUrl}/v1/charges?reference=${o.id}`);
        charges.set(o.id, ((await response.json()) as { data: Charge[] }).data);
      }),
    );
  }
  for (const o of orders) {
    const list = charges.get(o.id) ?? [];
    const taken = list.filter((c) => c.status === 'succeeded' || c.status === 'refunded');
    if (taken.length > 1) chargeViolations.push(`order ${o.id}: ${taken.length} successful charges (${taken.map((c) => c.id).join(', ')})`);
    const held = list.filter((c) => c.status === 'succeeded');
    const minor = Math.round(Number(o.total) * 100);
    if (o.status === 'confirmed') {
      if (held.length !== 1 || held[0]!.amount !== minor) {
        netViolations.push(`confirmed order ${o.id}: charges at the provider ${JSON.stringify(list.map((c) => [c.status, c.amount]))}, total ${minor}`);
      }
    } else if (held.length) {
      netViolations.push(`${o.status} order ${o.id}: the provider still holds ${held.map((c) => c.amount).join(', ')} (net charge not zero)`);
    }
  }
  results.push(result('at most one successful charge per order (at the provider)', orders.length, chargeViolations));
  results.push(result('a confirmed order is charged once and not refunded; a failed or cancelled one nets zero at the provider', orders.length, netViolations));

  // No held reservation once an order is over; a committed one only for a confirmed order.
  const { rows: reservations } = await db.query<{ order_id: string; status: string; order_status: string }>(
    `SELECT r.order_id::text, r.status::text, o.status::text AS order_status FROM reservations r JOIN orders o ON o.id = r.order_id`,
  );
  results.push(
    result(
      'no held reservation; committed exactly for confirmed orders',
      reservations.length,
      reservations
        .filter((r) => r.status === 'active' || (r.status === 'committed') !== (r.order_status === 'confirmed'))
        .map((r) => `order ${r.order_id} (${r.order_status}) has its reservation ${r.status}`),
    ),
  );

  // 5. Stock: initial minus what confirmed orders took, per variant and warehouse; never out of bounds.
  const { rows: stock } = await db.query<{ id: string; variant_id: string; warehouse_id: string; on_hand: number; reserved: number; committed: string }>(
    `SELECT s.id::text, s.variant_id::text, s.warehouse_id::text, s.on_hand, s.reserved,
            coalesce((SELECT sum(l.quantity) FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id
                      JOIN orders o ON o.id = r.order_id
                      WHERE l.stock_id = s.id AND r.status = 'committed' AND o.status = 'confirmed'), 0)::text AS committed
     FROM stock s`,
  );
  const { rows: perVariant } = await db.query<{ variant_id: string; confirmed: string }>(
    `SELECT i.variant_id::text, sum(i.quantity)::text AS confirmed FROM order_items i JOIN orders o ON o.id = i.order_id
     WHERE o.status = 'confirmed' GROUP BY i.variant_id`,
  );
  const stockViolations: string[] = [];
  const variantTotals = new Map<string, { initial: number; final: number }>();
  for (const s of stock) {
    const initial = inputs.initialStock.get(s.id) ?? 0;
    if (s.on_hand !== initial - Number(s.committed)) {
      stockViolations.push(`stock ${s.variant_id}@${s.warehouse_id}: on hand ${s.on_hand}, expected ${initial} − ${s.committed} confirmed`);
    }
    if (s.reserved !== 0) stockViolations.push(`stock ${s.variant_id}@${s.warehouse_id}: ${s.reserved} still reserved`);
    const totals = variantTotals.get(s.variant_id) ?? { initial: 0, final: 0 };
    totals.initial += initial;
    totals.final += s.on_hand;
    variantTotals.set(s.variant_id, totals);
  }
  for (const v of perVariant) {
    const totals = variantTotals.get(v.variant_id) ?? { initial: 0, final: 0 };
    if (totals.final !== totals.initial - Number(v.confirmed)) {
      stockViolations.push(`variant ${v.variant_id}: ${totals.final} on hand in all warehouses, expected ${totals.initial} − ${v.confirmed} ordered in confirmed orders`);
    }
  }
  const { rows: constraints } = await db.query<{ conname: string }>(
    `SELECT conname FROM pg_constraint WHERE conname IN ('stock_on_hand_non_negative', 'stock_reserved_non_negative', 'stock_reserved_within_on_hand')`,
  );
  if (constraints.length !== 3) stockViolations.push(`the stock constraints are not all there: ${constraints.map((c) => c.conname).join(', ')}`);
  stockViolations.push(...inputs.stockSamples.outOfBounds);
  results.push(result('stock = initial − confirmed quantities per variant and warehouse, never negative (constraints + sampler)', stock.length + inputs.stockSamples.taken, stockViolations));

  // 6. Each committed state change has exactly one outbox row, and each row its effect in every subscriber.
  const { rows: outbox } = await db.query<{ event_id: string; aggregate_id: string; event_type: string; topic: string; published: boolean }>(
    `SELECT event_id::text, aggregate_id, event_type, topic, published_at IS NOT NULL AS published FROM outbox`,
  );
  const { rows: history } = await db.query<{ order_id: string; status: string; n: string }>(
    `SELECT order_id::text, status::text, count(*)::text AS n FROM order_status_history GROUP BY order_id, status`,
  );
  const eventsOf = new Map<string, Map<string, number>>();
  for (const row of outbox) {
    const counts = eventsOf.get(row.aggregate_id) ?? new Map<string, number>();
    counts.set(row.event_type, (counts.get(row.event_type) ?? 0) + 1);
    eventsOf.set(row.aggregate_id, counts);
  }
  const outboxViolations: string[] = [];
  const changes = new Map(history.map((h) => [`${h.order_id}/${h.status}`, Number(h.n)]));
  const { rows: reserved } = await db.query<{ order_id: string }>(`SELECT order_id::text FROM reservations`);
  const reservedOrders = new Set(reserved.map((r) => r.order_id));
  for (const o of orders) {
    const counts = eventsOf.get(o.id) ?? new Map<string, number>();
    const reservedRows = counts.get('inventory.reserved') ?? 0;
    if (reservedRows !== (reservedOrders.has(o.id) ? 1 : 0)) {
      outboxViolations.push(`order ${o.id}: ${reservedOrders.has(o.id) ? 1 : 0} reservation(s), ${reservedRows} inventory.reserved outbox row(s)`);
    }
    for (const [event, status] of Object.entries(statusOfEvent)) {
      const changed = changes.get(`${o.id}/${status}`) ?? 0;
      const rows = counts.get(event) ?? 0;
      if (changed !== rows) outboxViolations.push(`order ${o.id}: ${changed} change(s) to ${status}, ${rows} ${event} outbox row(s)`);
    }
    for (const event of ['payment.success', 'payment.refunded', 'inventory.committed', 'inventory.released']) {
      if ((counts.get(event) ?? 0) > 1) outboxViolations.push(`order ${o.id}: ${counts.get(event)} ${event} rows`);
    }
  }
  outboxViolations.push(...outbox.filter((r) => !r.published).map((r) => `outbox row ${r.event_id} (${r.event_type}) never published`));
  results.push(result('every committed state change has exactly one outbox row', orders.length + outbox.length, outboxViolations));

  const { rows: inbox } = await db.query<{ consumer_group: string; event_id: string }>(`SELECT consumer_group, event_id::text FROM inbox`);
  const seen = new Set(inbox.map((r) => `${r.consumer_group}/${r.event_id}`));
  const effectViolations: string[] = [];
  let effectChecks = 0;
  for (const row of outbox) {
    const topic = inputs.names.topicOf(row.topic) ?? (row.topic as Topic);
    for (const [group, topicsRead] of Object.entries(consumerGroups)) {
      if (!(topicsRead as readonly string[]).includes(topic) || !handledBy.get(group)?.has(row.event_type)) continue;
      effectChecks++;
      if (!seen.has(`${inputs.names.group(group as keyof typeof consumerGroups)}/${row.event_id}`) && !seen.has(`${group}/${row.event_id}`)) {
        effectViolations.push(`${group} never processed ${row.event_type} ${row.event_id}`);
      }
    }
  }
  // Exactly once in the effects: analytics counted each status change once, notification mailed each final event once.
  const { rows: stats } = await db.query<{ status: string; orders: string }>(`SELECT status, sum(orders)::text AS orders FROM order_stats_hourly GROUP BY status`);
  const counted = new Map(stats.map((s) => [s.status, Number(s.orders)]));
  for (const [event, status] of Object.entries(statusOfEvent)) {
    if (status === 'inventory_reserved') continue;
    const rows = outbox.filter((r) => r.event_type === event).length;
    effectChecks++;
    if ((counted.get(status) ?? 0) !== rows) effectViolations.push(`analytics counted ${counted.get(status) ?? 0} orders entering ${status}, the outbox has ${rows} ${event}`);
  }
  const { rows: analytics } = await db.query<{ order_id: string; status: string }>(`SELECT order_id::text, status FROM analytics_orders`);
  for (const a of analytics) {
    effectChecks++;
    const order = byId.get(a.order_id);
    if (order && order.status !== a.status) effectViolations.push(`analytics has order ${a.order_id} ${a.status}, it is ${order.status}`);
  }
  const { rows: mails } = await db.query<{ order_id: string; n: string }>(`SELECT order_id::text, count(*)::text AS n FROM notifications GROUP BY order_id HAVING count(*) > 1`);
  effectViolations.push(...mails.map((m) => `order ${m.order_id} was mailed ${m.n} times`));
  results.push(result('every event is seen exactly once in each subscriber’s effects', effectChecks, effectViolations));

  // 7. Kafka's order events agree with the orders' final states.
  const messages = await readWholeTopic(inputs.kafka, inputs.admin, inputs.names.topic('order-events'));
  const lastOf = new Map<string, string>();
  const idsOnTopic = new Map<string, number>();
  for (const m of messages) {
    if (m.headers['chaos-poison']) continue;
    const eventType = m.headers['event-type'] ?? '';
    const eventId = m.headers['event-id'] ?? '';
    idsOnTopic.set(eventId, (idsOnTopic.get(eventId) ?? 0) + 1);
    if (m.key && eventType.startsWith('order.')) lastOf.set(m.key, eventType);
  }
  const kafkaViolations: string[] = [];
  for (const o of orders) {
    const last = lastOf.get(o.id);
    if (last !== finalEventOf[o.status]) kafkaViolations.push(`order ${o.id} is ${o.status}, its last event in Kafka is ${last ?? 'none'}`);
  }
  for (const row of outbox.filter((r) => r.event_type.startsWith('order.'))) {
    if (!idsOnTopic.has(row.event_id)) kafkaViolations.push(`${row.event_type} ${row.event_id} is not in Kafka`);
  }
  results.push(result('every order.* event in Kafka matches the order’s final state', messages.length, kafkaViolations));

  // 8. The dead-letter topics hold the poison messages injected on purpose, and nothing else.
  const dlqViolations: string[] = [];
  let dlqMessages = 0;
  const expected = new Map<string, number>();
  for (const p of inputs.poison) {
    for (const [group, topicsRead] of Object.entries(consumerGroups)) {
      if ((topicsRead as readonly string[]).includes(p.topic)) expected.set(`${p.id}/${inputs.names.group(group as keyof typeof consumerGroups)}`, 0);
    }
  }
  for (const topic of Object.keys(consumerGroups['analytics-service-group'].reduce((all, t) => ({ ...all, [t]: 1 }), {})) as Topic[]) {
    for (const m of await readWholeTopic(inputs.kafka, inputs.admin, inputs.names.deadLetter(topic))) {
      dlqMessages++;
      const key = `${m.headers['chaos-poison']}/${m.headers[deadLetterHeaders.consumerGroup]}`;
      if (!m.headers['chaos-poison'] || !expected.has(key)) {
        dlqViolations.push(`${topic}.dlq holds a message that was not injected: ${m.headers['event-type'] ?? ''} ${m.headers['event-id'] ?? ''} (${m.headers[deadLetterHeaders.error] ?? ''})`);
      } else expected.set(key, expected.get(key)! + 1);
    }
  }
  for (const [key, n] of expected) if (n === 0) dlqViolations.push(`poison ${key} never reached its dead-letter topic`);
  results.push(result('the dead-letter topics hold only the poison messages injected on purpose', dlqMessages + expected.size, dlqViolations));

  // 9. No workflow left running. A saga that ended FAILED is counted apart: it fails loudly when a
  // compensation keeps failing, or rethrows a step's failure after undoing everything (its order is
  // then terminal and its money and stock are checked above).
  const workflowViolations: string[] = [];
  const failedSagas: string[] = [];
  let workflows = 0;
  for await (const execution of inputs.temporal.workflow.list({ query: `TaskQueue = '${inputs.taskQueue}' AND WorkflowType = 'OrderSaga'` })) {
    workflows++;
    if (execution.status.name === 'RUNNING') workflowViolations.push(`${execution.workflowId} is still running`);
    else if (execution.status.name !== 'COMPLETED') failedSagas.push(execution.workflowId);
  }
  results.push(result(`no saga left running (${failedSagas.length} ended FAILED after compensating${failedSagas.length ? `: ${failedSagas.join(', ')}` : ''})`, workflows, workflowViolations));
  return results;
}
