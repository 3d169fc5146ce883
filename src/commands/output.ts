/**
 * How a management command reports: lines as it goes and a last line in text mode, or
 * (`--json`) one JSON object at the end holding the same fields, with the lines that
 * would have been printed on the way under `notes`, so stdout stays one parseable value.
 */
export interface Output {
  readonly json: boolean;
  /** A line the text mode prints at once; `--json` keeps it for `notes`. */
  note(line: string): void;
  /** The result: `fields` as JSON, or the text lines. */
  done(fields: Record<string, unknown>, text: string | string[]): void;
}

/** The output of one command run, JSON when `json` is set. */
export function createOutput(json: boolean | undefined): Output {
  const notes: string[] = [];
  return {
    json: Boolean(json),
    note(line) {
      if (json) notes.push(line);
      else console.log(line);
    },
    done(fields, text) {
      if (json) console.log(JSON.stringify({ ...fields, notes }, null, 2));
      else console.log(Array.isArray(text) ? text.join('\n') : text);
    },
  };
}

// A wait shorter than this is not worth a progress line.
const PROGRESS_AFTER_MS = 1000;
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Shows what a wait longer than a second waits for: a spinner with the elapsed seconds on
 * stderr when it is a terminal, nothing when it is piped. Returns the function that ends it.
 */
export function showProgress(what: string, stream: NodeJS.WriteStream = process.stderr): () => void {
  if (!stream.isTTY) return () => {};
  const started = Date.now();
  let frame = 0;
  let shown = false;
  const timer = setInterval(() => {
    const elapsed = Date.now() - started;
    if (elapsed < PROGRESS_AFTER_MS) return;
    shown = true;
    stream.write(`\r${SPINNER[frame++ % SPINNER.length]} ${what} (${Math.floor(elapsed / 1000)} s)\x1b[K`);
  }, 100);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (shown) stream.write('\r\x1b[K');
  };
}

/** Runs `work` with a progress line for `what` (see showProgress). */
export async function withProgress<T>(what: string, work: () => Promise<T>): Promise<T> {
  const end = showProgress(what);
  try {
    return await work();
  } finally {
    end();
  }
}
