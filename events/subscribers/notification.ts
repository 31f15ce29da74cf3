import { type Clock } from '../../domain/clock.js';
import { recordEvent } from '../../domain/outbox.js';
import { type EventHandler, type Subscriber } from '../consumer.js';
import { EVENT_ID_NAMESPACE } from '../../domain/events/envelope.js';
import { uuidV5 } from '../../domain/ids.js';
import { type EventEnvelope } from '../../domain/events/schemas.js';
import { type Mailer, type MailMessage } from './mailer.js';

type FinalOrderEvent = EventEnvelope<'order.confirmed' | 'order.failed' | 'order.cancelled'>;

export interface NotificationDeps {
  mailer: Mailer;
  clock: Clock;
  /** Users are known by id only: their address is `<user id>@<recipientDomain>` unless the id is one. */
  recipientDomain: string;
}

/** The address of a user: the id itself when it is an email address. */
export function recipientOf(userId: string, domain: string): string {
  return userId.includes('@') ? userId : `${userId.replace(/[^\w.+-]/g, '_')}@${domain}`;
}

const failureReasons: Record<string, string> = {
  out_of_stock: 'some items were out of stock',
  payment_declined: 'the payment was declined',
  payment_timeout: 'the payment was not completed in time',
};

/** The email for an order's final event: its template name, subject and text. */
export function composeOrderEmail(event: FinalOrderEvent): { template: string; subject: string; text: string } {
  const { order_number: orderNumber } = event.data;
  switch (event.event_type) {
    case 'order.confirmed':
      return {
        template: 'order_confirmed',
        subject: `Your order ${orderNumber} is confirmed`,
        text: `Thank you! Your order ${orderNumber} is confirmed. Total: ${event.data.total.toFixed(2)} ${event.data.currency}.\n`,
      };
    case 'order.failed':
      return {
        template: 'order_failed',
        subject: `Your order ${orderNumber} could not be completed`,
        text:
          `We are sorry: your order ${orderNumber} could not be completed because ` +
          `${failureReasons[event.data.reason] ?? 'of a problem on our side'}. You pay nothing for it: a charge made for it is refunded.\n`,
      };
    case 'order.cancelled':
      return {
        template: 'order_cancelled',
        subject: `Your order ${orderNumber} was cancelled`,
        text: `Your order ${orderNumber} was cancelled as you asked. Anything charged is refunded.\n`,
      };
  }
}

/**
 * The notification service (seed §2 flow 1): emails the customer when an order is confirmed,
 * failed or cancelled, records the notification and announces it with `notification.sent`, all in
 * the transaction that records the event in the inbox. The mail is sent inside that transaction,
 * before it commits: a crash between the two sends the mail again (at least once), never not at all.
 */
export function createNotificationSubscriber(deps: NotificationDeps): Subscriber {
  const notify: EventHandler<FinalOrderEvent['event_type']> = async (event, tx) => {
    const { template, subject, text } = composeOrderEmail(event);
    const { order_id: orderId, user_id: userId } = event.data;
    const message: MailMessage = {
      id: uuidV5(`notification:${event.event_id}`, EVENT_ID_NAMESPACE),
      to: recipientOf(userId, deps.recipientDomain),
      subject,
      text,
    };
    const { messageId } = await deps.mailer.send(message);
    const sentAt = deps.clock();
    await tx.$executeRaw`
      INSERT INTO notifications (id, event_id, order_id, user_id, channel, template, recipient, subject, message_id, sent_at)
      VALUES (${message.id}::uuid, ${event.event_id}::uuid, ${orderId}::uuid, ${userId}, 'email', ${template}, ${message.to},
              ${subject}, ${messageId}, ${sentAt})`;
    await recordEvent(tx, {
      eventType: 'notification.sent',
      aggregate: { type: 'order', id: orderId },
      occurrence: template,
      context: { correlationId: event.correlation_id, userId: event.metadata.user_id, traceId: event.metadata.trace_id },
      occurredAt: sentAt,
      data: { notification_id: message.id, order_id: orderId, user_id: userId, channel: 'email', template, sent_at: sentAt.toISOString() },
    });
  };
  return {
    group: 'notification-service-group',
    handlers: { 'order.confirmed': notify, 'order.failed': notify, 'order.cancelled': notify },
  };
}
