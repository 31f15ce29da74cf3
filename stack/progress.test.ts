import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { consoleSay, phase } from './progress.js';

/** A terminal or a pipe that keeps what was written, with a clock that moves a second per look. */
function output(isTTY: boolean) {
  const written: string[] = [];
  let t = 0;
  return { out: { isTTY, columns: 120, write: (text: string) => written.push(text) }, written, now: () => (t += 1000) };
}

describe('the first start’s progress', () => {
  it('on a terminal, refreshes one line per phase with its elapsed seconds and the last line of its log', async () => {
    const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'progress-')), 'install.log');
    const { out, written, now } = output(true);
    const say = consoleSay('stack: ', out, { tickMs: 10, now });
    await phase(say, 'building the Temporal CLI', async () => {
      fs.writeFileSync(log, 'go: downloading go.temporal.io/server v1.29.1\n');
      await sleep(60);
    }, { logFile: log });
    // The terminal's "back to the line's start, erase it" shown as text, to match on.
    const screen = written.join('').replaceAll('\r\x1b[K', '<refresh>');
    expect(screen).toMatch(/<refresh>stack: building the Temporal CLI … \d+ s {2}go: downloading go\.temporal\.io\/server v1\.29\.1/);
    expect(written.length).toBeGreaterThan(3);
    expect(screen).toMatch(/<refresh>stack: building the Temporal CLI: done after \d+ s\n$/);
    expect(screen.split('\n')).toHaveLength(2);
  });

  it('elsewhere, writes plain lines: the start, a heartbeat while it runs, and the end, failed when it fails', async () => {
    const { out, written, now } = output(false);
    const say = consoleSay('stack: ', out, { heartbeatMs: 20, now });
    await expect(phase(say, 'downloading Apache Kafka', async () => {
      await sleep(70);
      throw new Error('mvn failed');
    })).rejects.toThrow('mvn failed');
    expect(written.join('')).not.toContain('\r');
    expect(written[0]).toBe('stack: downloading Apache Kafka …\n');
    expect(written.slice(1, -1).length).toBeGreaterThan(0);
    for (const line of written.slice(1, -1)) expect(line).toMatch(/^stack: {3}still downloading Apache Kafka: \d+ s\n$/);
    expect(written.at(-1)).toMatch(/^stack: downloading Apache Kafka: failed after \d+ s\n$/);
  });

  it('a plain say gets one line per phase', async () => {
    const lines: string[] = [];
    await expect(phase((line) => lines.push(line), 'starting kafka', () => Promise.resolve(7))).resolves.toBe(7);
    expect(lines).toEqual(['starting kafka']);
  });
});
