/**
 * A local append-only journal of generation records not yet committed to the database.
 *
 * `append` serialises a record into a buffer (it is also the JSON the database row stores);
 * `write` puts every buffered line in the current segment with ONE `write(2)`. The store calls
 * `write` once per event-loop turn, and a response is sent only after the write of its record,
 * so a record whose response the client received survives a process crash (kill -9): the bytes
 * are in the OS page cache. It does not fsync by default (`fsync: true` does, once per write, and
 * survives power loss at a large cost). Each flush rotates to a new segment file; a segment is
 * deleted only after the database committed its records. At startup, leftover segments are replayed.
 *
 * Several processes may share a directory (replicas on one SQLite file): segment names carry the
 * writer's pid, and only segments of processes no longer running are replayed. Processes in
 * different PID namespaces (containers) must not share one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { GenerationRecord } from './generation-record.ts';

const SEGMENT_SUFFIX = '.jsonl';

export interface JournalOptions {
  directory: string;
  /** fsync after every record (default false). */
  fsync?: boolean;
}

export class Journal {
  readonly #directory: string;
  readonly #fsync: boolean;
  #segmentPath: string | null = null;
  #descriptor: number | null = null;
  #sequence = 0;
  /** Lines appended and not yet written, each ending in a newline. */
  #buffer = '';
  /** Segments given up after a failed write (they may end with a torn line); returned by the next `rotate`. */
  #abandoned: string[] = [];

  constructor(options: JournalOptions) {
    this.#directory = options.directory;
    this.#fsync = options.fsync ?? false;
    mkdirSync(this.#directory, { recursive: true });
  }

  /**
   * Segments left by processes that are gone, oldest first, with their records and each record's
   * line (a torn last line is dropped). Segments of a live process (another replica sharing the
   * directory) are left to it.
   */
  leftovers(): Array<{ path: string; records: GenerationRecord[]; lines: string[] }> {
    return readdirSync(this.#directory)
      .filter((name) => name.endsWith(SEGMENT_SUFFIX) && !ownedByLiveProcess(name))
      .sort()
      .map((name) => {
        const path = join(this.#directory, name);
        const records: GenerationRecord[] = [];
        const lines: string[] = [];
        for (const line of readFileSync(path, 'utf8').split('\n')) {
          if (line.trim() === '') continue;
          try {
            records.push(JSON.parse(line) as GenerationRecord);
            lines.push(line);
          } catch {
            // A line cut short by the crash: its response never finished either.
          }
        }
        return { path, records, lines };
      });
  }

  /** Buffers the record's line (no I/O; `write` writes it) and returns its JSON. */
  append(record: GenerationRecord): string {
    const json = JSON.stringify(record);
    this.#buffer += json + '\n';
    return json;
  }

  /** Whether lines wait for `write`. */
  get buffered(): boolean {
    return this.#buffer !== '';
  }

  /**
   * Writes every buffered line to the current segment with one `write(2)` (plus `fsync` if asked).
   * Throws if that fails; the lines are then dropped and the segment abandoned (it may end with a
   * torn line, which must not be glued to the next one), so the caller must commit those records
   * another way.
   */
  write(): void {
    if (this.#buffer === '') return;
    const text = this.#buffer;
    this.#buffer = '';
    try {
      if (this.#descriptor === null) this.#open();
      const descriptor = this.#descriptor as number;
      // The text as it is (no Buffer copy of it on the JavaScript heap): a regular file takes it
      // all in one call. A short count (disk full) goes on from where it stopped, as bytes, and gets
      // one more try, which then throws.
      const written = writeSync(descriptor, text, null, 'utf8');
      const length = Buffer.byteLength(text, 'utf8');
      if (written < length) {
        const bytes = Buffer.from(text, 'utf8');
        let at = written;
        while (at < length) {
          const count = writeSync(descriptor, bytes, at, length - at);
          if (count <= 0) throw new Error(`journal write made no progress (${at} of ${length} bytes)`);
          at += count;
        }
      }
      if (this.#fsync) fsyncSync(descriptor);
    } catch (error) {
      this.#abandon();
      throw error;
    }
  }

  /**
   * Closes the current segment and returns the segments written since the last rotation (lines
   * still buffered are not in them: `write` first); the next write starts a new segment.
   */
  rotate(): string[] {
    const paths = this.#abandoned;
    this.#abandoned = [];
    if (this.#segmentPath !== null) paths.push(this.#segmentPath);
    if (this.#descriptor !== null) closeSync(this.#descriptor);
    this.#descriptor = null;
    this.#segmentPath = null;
    return paths;
  }

  /** Deletes segments whose records are committed. */
  discard(paths: readonly string[]): void {
    for (const path of paths) {
      try {
        unlinkSync(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }

  close(): void {
    this.rotate();
  }

  #abandon(): void {
    if (this.#segmentPath !== null) this.#abandoned.push(this.#segmentPath);
    const descriptor = this.#descriptor;
    this.#descriptor = null;
    this.#segmentPath = null;
    if (descriptor !== null) {
      try {
        closeSync(descriptor);
      } catch {
        // Already failing; the descriptor is gone either way.
      }
    }
  }

  #open(): void {
    this.#sequence += 1;
    // Time first so a plain sort replays in order; pid and sequence keep names unique.
    const name = `${String(Date.now()).padStart(15, '0')}-${process.pid}-${String(this.#sequence).padStart(6, '0')}${SEGMENT_SUFFIX}`;
    this.#segmentPath = join(this.#directory, name);
    this.#descriptor = openSync(this.#segmentPath, 'a');
  }
}

/**
 * Whether a segment's writer (the pid in its name) is another process still running. Our own pid
 * counts as gone: this process has not written a segment before `leftovers()` runs, so a segment
 * with its pid is from an earlier incarnation (containers reuse pid 1).
 */
function ownedByLiveProcess(name: string): boolean {
  const pid = Number(name.split('-')[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user, so it is alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
