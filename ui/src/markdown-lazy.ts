/**
 * The Markdown renderer and its sanitizer are most of the page's script, and evaluating
 * them takes longer than rendering the first view: they load once the first view has been
 * painted (see `loadAfterFirstPaint`), or as soon as a message needs them. Until they are
 * here, a message shows as plain text (Lit escapes it).
 */
let render: ((text: string) => string) | null = null;
let loading: Promise<void> | null = null;
let ready: () => void;

/** Resolves once rendering is available (components re-render then); loading nothing itself. */
export const markdownReady: Promise<void> = new Promise((resolve) => (ready = resolve));

/** Starts loading the renderer (once). */
export function loadMarkdown(): Promise<void> {
  loading ??= import('./markdown.js').then((module) => {
    render = module.renderMarkdown;
    ready();
  });
  return loading;
}

/** Sanitized HTML for `text`, or null while the renderer is still loading (which this starts). */
export function markdownHtml(text: string): string | null {
  if (render) return render(text);
  void loadMarkdown();
  return null;
}
