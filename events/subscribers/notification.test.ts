import { describe, expect, it } from 'vitest';
import { composeOrderEmail } from './notification.js';

const failed = (reason: string) =>
  ({
    event_id: '7f0c4d7e-2f5b-4c8e-9a7e-0a1b2c3d4e5f',
    event_type: 'order.failed',
    event_version: '1.0',
    timestamp: '2026-11-30T00:00:00.000Z',
    source_service: 'order-service',
    correlation_id: 'c-1',
    data: { order_id: '7f0c4d7e-2f5b-4c8e-9a7e-0a1b2c3d4e60', order_number: 'ORD-2026-00001', user_id: 'u-1', reason, failed_at: '2026-11-30T00:00:00.000Z' },
    metadata: { user_id: 'u-1', trace_id: '0af7651916cd43dd8448eb211c80319c' },
  }) as Parameters<typeof composeOrderEmail>[0];

describe('the order.failed e-mail', () => {
  // A failed order may have been charged and refunded (a 3-D Secure payment completed as the saga gave up).
  it('never tells the customer nothing was charged, and says a charge is refunded', () => {
    for (const reason of ['payment_declined', 'payment_timeout', 'out_of_stock', 'processing_error']) {
      const { text } = composeOrderEmail(failed(reason));
      expect(text).not.toMatch(/nothing was charged/i);
      expect(text).toContain('a charge made for it is refunded');
    }
  });
});
