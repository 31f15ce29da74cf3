import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/index.js';
import { bundleOrderWorkflows } from '../workers/order-worker.js';

/** `npm run build:workflows`: the workflow bundle a production worker starts from, so it never runs webpack at start. */
const config = loadConfig();
const { code } = await bundleOrderWorkflows();
fs.mkdirSync(path.dirname(config.worker.workflowBundlePath), { recursive: true });
fs.writeFileSync(config.worker.workflowBundlePath, code);
console.log(`wrote ${config.worker.workflowBundlePath} (${(code.length / 1024).toFixed(0)} KiB)`);
