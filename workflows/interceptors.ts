// Bundled with the workflow code (workers/order-worker.ts): Temporal's OpenTelemetry interceptors
// continue the client's trace in the sandbox, make a span for the workflow run and each activity it
// schedules, and pass the context on to the activities. Their span ids come from the workflow's
// seeded randomness, so they replay deterministically; adding or removing them shifts what the
// workflow itself would draw from it, harmless while the saga draws nothing (uuid4, Math.random).
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import { type WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [new OpenTelemetryInboundInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
