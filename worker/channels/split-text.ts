/** Telegram's limit on one message's text, in UTF-16 code units. */
export const TELEGRAM_MAX_MESSAGE = 4096;

// A break is only taken if it keeps at least this share of the limit in the chunk;
// otherwise one odd early newline would cut a long reply into many tiny messages.
const MIN_FILL = 0.5;
const BREAKS: RegExp[] = [/\n\s*\n/g, /\n/g, /[.!?。！？](?=\s)/g, /\s/g];

/**
 * Splits text into chunks of at most `limit` code units, each cut at the cleanest
 * boundary available in the chunk's second half: a blank line, a line end, a sentence
 * end, a space, and only then mid-word (never inside a surrogate pair). Whitespace at
 * the cuts is dropped; no chunk is empty.
 */
export function splitText(text: string, limit = TELEGRAM_MAX_MESSAGE): string[] {
  const chunks: string[] = [];
  let rest = text.trim();
  while (rest.length > limit) {
    const cut = findCut(rest, limit);
    const chunk = rest.slice(0, cut).trimEnd();
    if (chunk) chunks.push(chunk);
    rest = rest.slice(cut).trimStart();
  }
  if (rest) chunks.push(rest);
  return chunks;
}

function findCut(text: string, limit: number): number {
  const window = text.slice(0, limit + 1);
  const floor = Math.floor(limit * MIN_FILL);
  for (const pattern of BREAKS) {
    let best = -1;
    for (const match of window.matchAll(pattern)) {
      // A sentence end is kept with its sentence; other separators are cut before.
      const end = pattern === BREAKS[2] ? match.index + match[0].length : match.index;
      if (end > limit) break;
      if (end >= floor) best = end;
    }
    if (best > 0) return best;
  }
  const code = text.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
}
