/**
 * The control page's budget: what the first view downloads (compressed bytes on the
 * wire) and the time from navigation to a usable chat box, in Chromium, against a real
 * gateway on loopback. Each run is a fresh browser context (cold: empty cache, as a first
 * visit) or a reload in the same context (warm: hashed assets from the cache, the HTML
 * revalidated). The times come from the page's own clock: Navigation Timing
 * (responseEnd, domContentLoadedEventEnd), Paint Timing (first-contentful-paint) and a
 * mark set the moment `#chat-input` exists and can take focus, and one set when the browser
 * creates the document (what comes before it is the browser's: the request, and a new
 * renderer process where the navigation needs one).
 *
 * A reference is measured in the same runs: a page that is nothing but a chat box, one
 * `<textarea>` in the HTML, served by a bare `node:http` server with the same headers. It is
 * the floor: what this browser on this machine needs to show any page at all.
 *
 * With `--before=DIR` (a built checkout of another version) both are measured in the same
 * runs, one after the other in alternating order, so a busy machine weighs on both alike.
 *
 *   npm run bench:ui-page [-- --runs=15 --before=DIR]
 */
import { readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { PAGE_SECURITY_HEADERS } from '../worker/http/ui-static.js';
import { CHROMIUM, inPage, launchChromium } from '../test/helpers/browser.js';
import { benchGateway } from './lib/gateway.js';
import { numberArg, onCleanup, quick, runBench, stringArg } from './lib/run.js';
import { fmt, median, percentile, table } from './lib/stats.js';

const RUNS = numberArg('runs', quick() ? 5 : 15);
// A built checkout of another version: measured in the same runs, alternating (see main).
const BEFORE = stringArg('before', '');
const TOKEN = 'bench-token-0123456789abcdefghij';
const UI_DIR = fileURLToPath(new URL('../ui/', import.meta.url));

// Runs in the page before its own scripts: marks when the document exists and when the chat box is usable.
const MARK_USABLE = `
performance.mark('document-created');
new MutationObserver((_, observer) => {
  const box = document.getElementById('chat-input');
  if (box && !box.disabled && box.offsetParent !== null) {
    performance.mark('chat-usable');
    observer.disconnect();
  }
}).observe(document, { subtree: true, childList: true });
`;

interface Sample {
  bytes: number;
  requests: number;
  responseEnd: number;
  domContentLoaded: number;
  fcp: number;
  documentCreated: number;
  usable: number;
}

async function measure(page: Page, reference = false): Promise<Sample> {
  await page.locator('#chat-input').waitFor({ timeout: 15_000 });
  await page.waitForLoadState('load');
  if (!reference) {
  // The Markdown renderer and the other views load once the first view is painted: wait for
  // them, so that the bytes count everything the page downloads, not only the first view.
  // A function, not a string: the page's CSP forbids evaluating strings, and Playwright's polling would.
    await page.waitForFunction(() => (globalThis as any).performance.getEntriesByType('resource').some((r: { name: string; responseEnd: number }) => r.name.includes('/assets/markdown-') && r.responseEnd > 0), undefined, { timeout: 15_000 });
  }
  return inPage<Sample>(page, `(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const resources = performance.getEntriesByType('resource').filter((r) => !r.name.includes('/api/'));
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const usable = performance.getEntriesByName('chat-usable')[0];
    const created = performance.getEntriesByName('document-created')[0];
    return {
      bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
      requests: 1 + resources.length,
      responseEnd: nav.responseEnd,
      domContentLoaded: nav.domContentLoadedEventEnd,
      fcp: fcp ? fcp.startTime : NaN,
      documentCreated: created ? created.startTime : NaN,
      usable: usable ? usable.startTime : NaN,
    };
  })()`);
}

/** Sizes of everything the page loads (the first view's files, then the Markdown renderer and the other views once it is painted), from the build: raw, gzip and brotli. */
function builtSizes(): Array<[string, number, number, number]> {
  const files = ['index.html', ...readdirSync(join(UI_DIR, 'assets')).filter((f) => !/\.(br|gz)$/.test(f)).map((f) => `assets/${f}`)];
  const size = (path: string) => {
    try {
      return statSync(join(UI_DIR, path)).size;
    } catch {
      return Number.NaN;
    }
  };
  return files.map((file) => [file, size(file), size(`${file}.gz`), size(`${file}.br`)]);
}

interface Target {
  name: string;
  url: string;
  reference?: boolean;
  cold: Sample[];
  warm: Sample[];
}

async function main(): Promise<void> {
  const config = { gateway: { auth: { token: TOKEN } } };
  const gateways = [{ name: 'this build', gateway: await benchGateway({ asService: true, config }) }];
  if (BEFORE) gateways.push({ name: `before (${BEFORE})`, gateway: await benchGateway({ asService: true, config, cli: join(resolve(BEFORE), 'dist/src/cli.js') }) });
  const browser = await launchChromium();
  onCleanup(() => browser.close());
  const targets: Target[] = gateways.map(({ name, gateway }) => ({ name, url: gateway.url(`/#token=${TOKEN}`), cold: [], warm: [] }));
  const floor = await startFloorPage();
  targets.push({ name: 'reference: a page that is only a chat box', url: floor, reference: true, cold: [], warm: [] });
  // The first page request loads the static-file middleware; the first API request the routes.
  for (const target of targets) {
    const warmUp = await browser.newPage();
    await warmUp.goto(target.url);
    await warmUp.locator('#chat-input').waitFor({ timeout: 15_000 });
    await warmUp.context().close();
  }

  for (let i = 0; i < RUNS; i++) {
    // Two builds: one run of each in turn, the order alternating, so that both see the same machine.
    for (const target of i % 2 === 0 ? targets : [...targets].reverse()) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.addInitScript(MARK_USABLE);
      const page = await context.newPage();
      await page.goto(target.url);
      target.cold.push(await measure(page, target.reference));
      await page.reload();
      target.warm.push(await measure(page, target.reference));
      await context.close();
    }
  }

  const sizes = builtSizes();
  console.log(`Chromium ${browser.version()} (${CHROMIUM}), headless, 1280x800, loopback; ${RUNS} runs each; times in ms from navigation start\n`);
  console.log(table(['file', 'bytes', 'gzip', 'brotli (served to Chromium)'], [
    ...sizes.map(([file, raw, gz, br]) => [file, raw, gz, br]),
    ['**total**', sizes.reduce((s, x) => s + x[1], 0), sizes.reduce((s, x) => s + (x[2] || x[1]), 0), `**${sizes.reduce((s, x) => s + (x[3] || x[1]), 0)}**`],
  ]));
  console.log();
  const row = (name: string, samples: Sample[]) => {
    const pick = (key: keyof Sample) => samples.map((s) => s[key]).sort((a, b) => a - b);
    const ownTime = samples.map((s) => s.usable - s.documentCreated).sort((a, b) => a - b);
    return [name, fmt(median(pick('bytes')), 0), fmt(median(pick('requests')), 0), fmt(median(pick('responseEnd'))), fmt(median(pick('documentCreated'))), fmt(median(pick('domContentLoaded'))), fmt(median(pick('fcp'))), `**${fmt(median(pick('usable')))}**`, fmt(percentile(pick('usable'), 95)), fmt(median(ownTime))];
  };
  const label = (visit: string, target: Target) => `${visit}, ${target.name}`;
  console.log(table(['visit', 'bytes on the wire (median)', 'requests', 'HTML responseEnd', 'document created', 'DOMContentLoaded', 'first contentful paint', 'chat box usable (median)', 'chat box usable p95', 'usable - document created (median)'], [
    ...targets.map((target) => row(label('first visit (empty cache)', target), target.cold)),
    ...targets.map((target) => row(label('reload (cached assets)', target), target.warm)),
  ]));
  console.log(`\n"bytes on the wire" is the Resource Timing transferSize of the page and its assets (headers included, API calls excluded).`);
  console.log('"document created" is when the browser made the document (an init script\'s mark): the time before it is the request and, where needed, a new renderer process.');
}

/** The reference page: one `<textarea id="chat-input">` in the HTML, the page's own security headers, a bare node:http server. */
async function startFloorPage(): Promise<string> {
  const html = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>xopc</title></head><body><textarea id="chat-input" aria-label="Message"></textarea></body></html>';
  const server = createServer((_req, res) => res.writeHead(200, { ...PAGE_SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(html));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

await runBench('Control page size and time to a usable chat box', 10 * 60_000, main);
