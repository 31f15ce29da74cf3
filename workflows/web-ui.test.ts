import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../config/index.js';
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
  it('finds a saga by its OrderId and OrderStatus and shows it completed; the README link to an order opens its history', async () => {
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
      // Visibility is eventually consistent, and the count is a query of its own: the page may need
      // a reload before the saga shows and is counted.
      const row = page.getByRole('link', { name: orderWorkflowId(order.id) });
      const counted = async () => (await row.isVisible()) && /\b1\s+Workflow\b/.test(await page.locator('body').innerText());
      for (let attempt = 0; attempt < 10 && !(await counted()); attempt++) {
        await page.waitForTimeout(1000);
        await page.reload();
      }
      await expect.poll(() => row.isVisible(), { timeout: 15_000 }).toBe(true);
      await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toMatch(/\b1\s+Workflow\b/);
      const listing = await page.locator('body').innerText();
      expect(listing).toContain(orderWorkflowId(order.id));
      expect(listing).toMatch(/\b1\s+Workflow\b/);
      expect(listing).toMatch(/Completed/);
      await page.screenshot({ path: `${config.stack.stateDir}/logs/web-ui-search.png` });

      // The README's link to one order's saga opens its latest run's history.
      const readme = fs.readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
      const linkForm = /`(http:\/\/127\.0\.0\.1:8233\/namespaces\/default\/workflows\/order-<order_id>)`/.exec(readme)?.[1];
      expect(linkForm, 'the README shows the link to an order\'s saga').toBeDefined();
      const link = linkForm!.replace('http://127.0.0.1:8233', config.temporal.uiUrl).replace('/default/', `/${config.temporal.namespace}/`).replace('<order_id>', order.id);
      await page.goto(link);
      await expect.poll(() => page.url(), { timeout: 15_000 }).toMatch(new RegExp(`/workflows/${orderWorkflowId(order.id)}/[0-9a-f-]{36}/history$`));
      await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toMatch(/Completed/);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
