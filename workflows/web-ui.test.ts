import { Client, Connection } from '@temporalio/client';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createPrisma } from '../db/prisma.js';
import { systemClock } from '../domain/clock.js';
import { FakePaymentProvider, testTokens } from '../fake-payment-provider/provider.js';
import { createStockedProduct, placeOrder } from '../test/support/domain.js';
import { sagaInputFor, testConfig, uniqueName } from '../test/support/env.js';
import { startTestOrderWorker } from '../test/support/worker.js';
import { orderSagaType, orderWorkflowId } from './definitions.js';

const config = testConfig();
const prisma = createPrisma(config.postgres.url);
afterAll(() => prisma.$disconnect());

describe('the Temporal Web UI', () => {
  it('finds a saga by its OrderId and OrderStatus and shows it completed', async () => {
    const product = await createStockedProduct(prisma, { units: [1] });
    const order = await placeOrder(prisma, systemClock, [{ productId: product.productId }]);
    const taskQueue = uniqueName('web-ui');
    const worker = await startTestOrderWorker({ config, taskQueue, db: prisma, payments: new FakePaymentProvider() });
    const connection = await Connection.connect({ address: config.temporal.address });
    try {
      const client = new Client({ connection, namespace: config.temporal.namespace });
      await client.workflow.execute(orderSagaType, { taskQueue, workflowId: orderWorkflowId(order.id), args: [sagaInputFor(order, testTokens.visa)] });
    } finally {
      await connection.close();
      await worker.stop();
    }

    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const query = encodeURIComponent(`OrderId="${order.id}" AND OrderStatus="confirmed"`);
      await page.goto(`${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows?query=${query}`);
      // Visibility is eventually consistent: the list may need a reload before the saga shows.
      const row = page.getByRole('link', { name: orderWorkflowId(order.id) });
      for (let attempt = 0; attempt < 10 && !(await row.isVisible()); attempt++) {
        await page.waitForTimeout(1000);
        await page.reload();
      }
      await expect.poll(() => row.isVisible(), { timeout: 15_000 }).toBe(true);
      const listing = await page.locator('body').innerText();
      expect(listing).toContain(orderWorkflowId(order.id));
      expect(listing).toMatch(/\b1\s+Workflow\b/);
      expect(listing).toMatch(/Completed/);
      await page.screenshot({ path: `${config.stack.stateDir}/logs/web-ui-search.png` });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
