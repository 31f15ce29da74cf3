-- A claim whose request wrote its order and then lost track of the order's saga (the start's reply
-- was lost): a repeat of the request resumes it at once (api/order-service.ts).
ALTER TYPE "idempotency_state" ADD VALUE 'interrupted';
