import DOMPurify from 'dompurify';
import { Marked } from 'marked';

/**
 * Model replies are untrusted: Markdown is rendered by marked and the HTML it produces
 * goes through DOMPurify before it reaches the page, so `<script>`, event handler
 * attributes and `javascript:` links arrive inert.
 */
const marked = new Marked({ gfm: true, breaks: true, async: false });

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  // Links leave the page in a new tab and tell the other site nothing about us.
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

/** Markdown to sanitized HTML, ready for Lit's `unsafeHTML`. */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text) as string;
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'] });
}
