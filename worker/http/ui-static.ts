import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type Koa from 'koa';
import { loadOnce } from './lazy-routes.js';

/** Where `npm run build` puts the bundled web page (dist/ui, beside dist/worker). */
export const UI_ROOT = fileURLToPath(new URL('../../ui/', import.meta.url));

/**
 * Headers on every response of the page. The page has no inline script or style and
 * never evaluates strings; it only talks to its own origin, and no other site may frame it.
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * `Cross-Origin-Opener-Policy: same-origin` on the HTML, unless the browser says (Fetch
 * Metadata) that the navigation came from the person (address bar, bookmark, a link opened
 * by `xopc gateway dashboard`: `Sec-Fetch-Site: none`) or from the page itself (`same-origin`).
 * Another site that opens or links to the page (`same-site`, `cross-site`, or a browser that
 * sends no such header) gets the header, and so no handle on the page's window: it cannot
 * navigate it elsewhere (to a look-alike sign-in) or probe it. On every navigation the header
 * costs a browsing-context-group switch, which in Chromium is a new renderer process before
 * the page can start (~100-150 ms of a first visit on a 2-core machine, BENCHMARKS.md 8),
 * and it protects nothing where no other site is involved.
 */
function openerPolicy(secFetchSite: string | undefined): string | null {
  return secFetchSite === 'none' || secFetchSite === 'same-origin' ? null : 'same-origin';
}

// File names the build gives a content hash: they never change, so browsers keep them for a year.
const HASHED_ASSET = /^\/assets\/[^/]+-[A-Z0-9]{8,}\.[a-z0-9]+$/i;
const IMMUTABLE = 'public, max-age=31536000, immutable';
// The HTML names the current hashed files: always revalidated (a 304 when unchanged).
const REVALIDATE = 'no-cache';
// The page's only paths (its views live in the URL's fragment): every other path, the API's
// above all, passes by without loading or touching anything here.
const PAGE_PATH = /^\/(index\.html)?$|^\/assets\/[^/]+$/;

export interface UiStaticOptions {
  /** The folder holding index.html and assets/ (default: dist/ui). */
  root?: string;
}

/**
 * Serves the web page: GET/HEAD of `/`, `/index.html` and `/assets/*`, from the built
 * folder, precompressed (`.br`, `.gz` beside each file) when the browser accepts it.
 * koa-static loads on the first page request, so a worker that only serves the API
 * never loads it, and an API request costs one regular-expression test here.
 */
export function createUiStatic(options: UiStaticOptions = {}): Koa.Middleware {
  const root = options.root ?? UI_ROOT;
  const serve = loadOnce(async () => {
    const { default: serveStatic } = await import('koa-static');
    return serveStatic(root, {
      index: 'index.html',
      brotli: true,
      gzip: true,
      // The page is one file plus its assets: no dotfiles, no directory listings.
      hidden: false,
      setHeaders(res, path) {
        const urlPath = toUrlPath(path, root);
        // The HTML's headers also depend on Sec-Fetch-Site (see openerPolicy).
        res.setHeader('Vary', urlPath.startsWith('/assets/') ? 'Accept-Encoding' : 'Accept-Encoding, Sec-Fetch-Site');
        res.setHeader('Cache-Control', HASHED_ASSET.test(urlPath) ? IMMUTABLE : REVALIDATE);
      },
    });
  });

  return async function uiStatic(ctx, next) {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || !PAGE_PATH.test(ctx.path)) return next();
    ctx.set(PAGE_SECURITY_HEADERS);
    const coop = ctx.path.startsWith('/assets/') ? null : openerPolicy(ctx.get('Sec-Fetch-Site') || undefined);
    if (coop) ctx.set('Cross-Origin-Opener-Policy', coop);
    await (await serve.get())(ctx, next);
    // koa-send sets Last-Modified but does not answer conditional requests itself.
    if (ctx.status === 200 && ctx.fresh) {
      // The file stream is already open: close it rather than leave the descriptor to the GC.
      const body: unknown = ctx.body;
      if (body instanceof Readable) body.destroy();
      ctx.status = 304;
      ctx.body = null;
    }
  };
}

/** The URL path a served file answers to, for the cache decision. */
function toUrlPath(file: string, root: string): string {
  const relative = file.slice(root.replace(/\/?$/, '/').length - 1).replace(/\\/g, '/');
  return relative.replace(/\.(br|gz)$/, '');
}
