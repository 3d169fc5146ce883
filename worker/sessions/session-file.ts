import { constants } from 'node:fs';
import { link, open, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/**
 * The durable file primitives under the session store: one append-only JSON-lines
 * file per session. Each record is written with a single write() and fdatasync'd
 * before the caller acknowledges anything, so a kill -9 can only leave a torn last
 * line, which readers skip and the next append fences off with a newline.
 */

const NEWLINE = 0x0a;
/** A backward read starts with this much (a few turns) and doubles up to READ_CHUNK_MAX_BYTES. */
export const READ_CHUNK_BYTES = 16 * 1024;
export const READ_CHUNK_MAX_BYTES = 1024 * 1024;
const FIRST_LINE_GUESS_BYTES = 1024;

/**
 * Appends `line` (which must end with "\n") durably. ENOENT when the file does not exist.
 * A write or sync that fails part-way (a full disk) is rolled back: the file is cut back
 * to its old length, so a refused record leaves no torn line behind.
 */
export async function appendLine(path: string, line: string): Promise<void> {
  // No O_CREAT: a session file is only born complete (createExclusive), never by an append.
  const handle = await open(path, constants.O_RDWR | constants.O_APPEND);
  try {
    const { size } = await handle.stat();
    // A crash mid-append leaves a line without its newline; start on a fresh line so
    // the torn bytes stay one unreadable line instead of swallowing this record.
    const torn = size > 0 && (await lastByte(handle, size)) !== NEWLINE;
    const data = Buffer.from(torn ? `\n${line}` : line, 'utf8');
    try {
      await writeAll(handle, data);
      await handle.datasync();
    } catch (err) {
      await handle.truncate(size).then(() => handle.datasync()).catch(() => undefined);
      throw err;
    }
  } finally {
    await handle.close();
  }
}

/** Writes all of `data` at the end; a write that takes nothing is the disk saying it is full. */
async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    // A short write is retried: the next write either continues or reports why (ENOSPC).
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, null);
    if (bytesWritten === 0) throw Object.assign(new Error('no space left on device (a write took no bytes)'), { code: 'ENOSPC' });
    offset += bytesWritten;
  }
}

/**
 * Creates `path` holding `content` only if it does not exist yet, all or nothing:
 * a synced temp file is hard-linked into place (link fails with EEXIST instead of
 * replacing). Returns false when the file already existed.
 */
export async function createExclusive(path: string, content: string, mode = 0o600): Promise<boolean> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.datasync();
  } catch (err) {
    // A full disk: no temp file is left behind, not even an empty one.
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await link(temp, path);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    // File systems without hard links (FAT, some network mounts): exclusive create in place.
    // A crash here can leave a torn header, which readers tolerate.
    if (!['EPERM', 'ENOTSUP', 'ENOSYS', 'EXDEV', 'EOPNOTSUPP'].includes(errorCode(err) ?? '')) throw err;
    try {
      await writeFile(path, content, { flag: 'wx', mode, flush: true });
    } catch (fallbackErr) {
      if (errorCode(fallbackErr) === 'EEXIST') return false;
      throw fallbackErr;
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await fsyncDir(dir);
  return true;
}

/** fsync a directory so a create, rename or unlink in it survives a power cut (not possible on Windows). */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    /* not supported on this platform */
  } finally {
    await handle?.close();
  }
}

/** The first line of the file (without its newline), or null if it has no complete first line within `maxBytes`. */
export async function readFirstLine(handle: FileHandle, maxBytes = READ_CHUNK_BYTES): Promise<string | null> {
  // A header is a few hundred bytes: try a small read before a big one.
  for (const length of [Math.min(FIRST_LINE_GUESS_BYTES, maxBytes), maxBytes]) {
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    const end = buffer.subarray(0, bytesRead).indexOf(NEWLINE);
    if (end !== -1) return buffer.toString('utf8', 0, end);
    if (bytesRead < length) return null;
  }
  return null;
}

/**
 * Yields the file's lines from the last to the first, reading chunks from the end
 * (`firstChunkBytes`, doubling up to `maxChunkBytes`), so a caller that wants only the
 * latest records reads little more than those. The last line is yielded even without
 * a trailing newline (it may be torn; the caller's parser decides). Empty lines are skipped.
 */
export async function* readLinesBackward(handle: FileHandle, size: number, firstChunkBytes = READ_CHUNK_BYTES, maxChunkBytes = READ_CHUNK_MAX_BYTES): AsyncGenerator<string> {
  let position = size;
  let chunkBytes = firstChunkBytes;
  // Bytes at the start of the previous chunk: a line whose beginning is further back.
  let carry = Buffer.alloc(0);
  while (position > 0) {
    const length = Math.min(chunkBytes, position);
    chunkBytes = Math.min(chunkBytes * 2, maxChunkBytes);
    position -= length;
    const chunk = Buffer.allocUnsafe(length);
    await readExactly(handle, chunk, position);
    const buffer = carry.length > 0 ? Buffer.concat([chunk, carry]) : chunk;
    let end = buffer.length;
    while (end > 0) {
      const newline = buffer.lastIndexOf(NEWLINE, end - 1);
      if (newline === -1) break;
      if (end > newline + 1) yield buffer.toString('utf8', newline + 1, end);
      end = newline;
    }
    carry = buffer.subarray(0, end);
  }
  if (carry.length > 0) yield carry.toString('utf8');
}

async function readExactly(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, position + offset);
    if (bytesRead === 0) throw new Error('file shrank while it was being read');
    offset += bytesRead;
  }
}

async function lastByte(handle: FileHandle, size: number): Promise<number> {
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, size - 1);
  return byte[0]!;
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
