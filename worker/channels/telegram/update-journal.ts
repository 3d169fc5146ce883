import { readFileSync } from 'node:fs';
import type { Update } from 'grammy/types';
import { writeFileAtomic } from '../../../src/atomic-write.js';

/**
 * The long-polling state of one bot, kept in `<state>/channels/telegram-<bot>.json`:
 * the next `offset` for getUpdates and the updates fetched but not yet answered.
 *
 * A batch is written here (offset advanced, updates pending) before it is handled and
 * before the next getUpdates confirms it to Telegram, and an update leaves `pending`
 * only once its reply was delivered. So whoever polls next, after a restart or a
 * crash, resumes exactly there: nothing Telegram forgot is lost, nothing answered is
 * asked again. Only the worker that owns polling reads or writes the file.
 */
export interface UpdateJournal {
  /** The offset for the next getUpdates (0: none yet). */
  readonly offset: number;
  /** Fetched and not answered yet, oldest first. */
  pending(): Update[];
  /** Records a fetched batch: advances the offset, adds the updates to `pending`; durable on return. */
  accept(updates: Update[]): void;
  /** An update is answered (or deliberately ignored); durable on return. */
  done(updateId: number): void;
}

interface JournalFile {
  v: 1;
  offset: number;
  pending: Update[];
}

/**
 * Loads the journal (an absent or unreadable file starts empty) and writes every change
 * atomically. A failed write is reported and the in-memory state goes on: answering
 * users beats stopping, and the next successful write catches the file up.
 */
export function openUpdateJournal(file: string, onError: (err: unknown, action: 'read' | 'write') => void): UpdateJournal {
  const state = readJournal(file, (err) => onError(err, 'read'));
  const save = () => {
    try {
      writeFileAtomic(file, JSON.stringify(state) + '\n', 0o600);
    } catch (err) {
      onError(err, 'write');
    }
  };

  return {
    get offset() {
      return state.offset;
    },
    pending: () => [...state.pending],
    accept(updates) {
      if (updates.length === 0) return;
      const known = new Set(state.pending.map((update) => update.update_id));
      for (const update of updates) {
        // Telegram never sends an update below the offset; a server that ignores offsets might.
        if (update.update_id < state.offset || known.has(update.update_id)) continue;
        state.pending.push(update);
      }
      state.offset = Math.max(state.offset, ...updates.map((update) => update.update_id + 1));
      save();
    },
    done(updateId) {
      const before = state.pending.length;
      state.pending = state.pending.filter((update) => update.update_id !== updateId);
      if (state.pending.length !== before) save();
    },
  };
}

function readJournal(file: string, onUnreadable: (err: unknown) => void): JournalFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onUnreadable(err);
    return { v: 1, offset: 0, pending: [] };
  }
  try {
    const parsed = JSON.parse(text) as Partial<JournalFile>;
    const offset = Number.isSafeInteger(parsed.offset) && parsed.offset! >= 0 ? parsed.offset! : 0;
    const pending = Array.isArray(parsed.pending) ? parsed.pending.filter((update) => Number.isSafeInteger(update?.update_id)) : [];
    return { v: 1, offset, pending };
  } catch (err) {
    // Written atomically, so this is a foreign or hand-edited file: start over rather than not at all.
    onUnreadable(err);
    return { v: 1, offset: 0, pending: [] };
  }
}
