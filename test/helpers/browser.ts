import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { needsPackage } from './system-package.js';

/** Debian's chromium; playwright-core drives it and downloads no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';

/** The `skip` option of every browser test: Chromium missing (outside CI) skips with how to install it. */
export const needsChromium = (): false | string => needsPackage('chromium', 'chromium');

/** One headless Chromium for a whole test file (starting one costs a second or two). */
export function launchChromium(): Promise<Browser> {
  // Tests run as root in CI containers, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** A fresh page in a context of its own (own storage), 1280x800 unless `options` say otherwise. */
export async function newPage(browser: Browser, options: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  // A page error is a test failure waiting to be noticed: keep them where a test can assert on them.
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  (page as Page & { errors: string[] }).errors = errors;
  return page;
}

/** Uncaught errors the page threw so far. */
export function pageErrors(page: Page): string[] {
  return (page as Page & { errors?: string[] }).errors ?? [];
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

/**
 * Runs axe-core in the page and returns its serious and critical violations. axe is
 * evaluated through the DevTools protocol, which the page's CSP does not govern, so the
 * page keeps its real policy while it is checked.
 */
export async function seriousA11yViolations(page: Page): Promise<AxeViolation[]> {
  if (!(await inPage<boolean>(page, "'axe' in window"))) await page.evaluate(AXE_SOURCE);
  const violations = await inPage<AxeViolation[]>(page, `axe.run(document, { resultTypes: ['violations'] }).then((result) =>
    result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** How far the page is wider than its viewport (0: no horizontal scrolling). */
export function horizontalOverflow(page: Page): Promise<number> {
  return inPage(page, 'document.documentElement.scrollWidth - document.documentElement.clientWidth');
}

/**
 * Evaluates an expression in the page (a string: the tests are compiled without the DOM's
 * types, and this code runs in the browser, not here). A promise is awaited.
 */
export function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}
