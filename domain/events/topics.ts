import type { EventType } from './schemas.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The topics of CONTRACT §4 with the seed's partitions and retention. Replication is 1 on the local
 * single broker and 3 in production (KAFKA_REPLICATION_FACTOR; docker-compose comments).
 * events/provision.ts creates them, each with its `<topic>.dlq`.
 */
export const topics = {
  'order-events': { partitions: 6, retentionMs: 7 * DAY_MS },
  'payment-events': { partitions: 6, retentionMs: 30 * DAY_MS },
  'inventory-events': { partitions: 6, retentionMs: 7 * DAY_MS },
  'notification-events': { partitions: 3, retentionMs: 1 * DAY_MS },
  'product-events': { partitions: 6, retentionMs: 7 * DAY_MS },
} as const;

export type Topic = keyof typeof topics;

export const topicOf: Record<EventType, Topic> = {
  'order.created': 'order-events',
  'order.confirmed': 'order-events',
  'order.failed': 'order-events',
  'order.cancelled': 'order-events',
  'payment.success': 'payment-events',
  'payment.failed': 'payment-events',
  'payment.refunded': 'payment-events',
  'inventory.reserved': 'inventory-events',
  'inventory.reservation.failed': 'inventory-events',
  'inventory.released': 'inventory-events',
  'inventory.committed': 'inventory-events',
  'notification.sent': 'notification-events',
  'product.updated': 'product-events',
  'product.stock_changed': 'product-events',
};

/** The subscribers' consumer groups (seed §4, CONTRACT §4) and the topics each reads. */
export const consumerGroups = {
  'notification-service-group': ['order-events', 'payment-events', 'inventory-events'],
  'search-service-group': ['product-events', 'inventory-events'],
  'analytics-service-group': ['order-events', 'payment-events', 'inventory-events', 'notification-events', 'product-events'],
} as const satisfies Record<string, readonly Topic[]>;

export type ConsumerGroup = keyof typeof consumerGroups;
