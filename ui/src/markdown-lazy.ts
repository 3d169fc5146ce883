/**
 * The Markdown renderer and its sanitizer are most of the page's script; they load right
 * after the first view is up instead of before it, so the chat box is usable sooner.
 * Until they are here, a message shows as plain text (Lit escapes it).
 */
let render: ((text: string) => string) | null = null;

/** Resolves once rendering is available (components re-render then). */
export const markdownReady: Promise<void> = import('./markdown.js').then((module) => {
  render = module.renderMarkdown;
});

/** Sanitized HTML for `text`, or null while the renderer is still loading. */
export function markdownHtml(text: string): string | null {
  return render ? render(text) : null;
}
