// The workflow bundle's entry point: every workflow the order worker runs.
export { OrderSaga } from './order-saga.js';
export { OrderHousekeeping } from './housekeeping.js';
