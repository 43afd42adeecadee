/**
 * A local append-only journal of generation records not yet committed to the database.
 *
 * `append` writes one JSON line with a synchronous `write(2)` before returning, so a record the
 * response path handed over survives a process crash (kill -9): the bytes are in the OS page
 * cache. It does not fsync by default (`fsync: true` does, per record, and survives power loss
 * at a large cost). Each flush rotates to a new segment file; a segment is deleted only after
 * the database committed its records. At startup, leftover segments are replayed.
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

  constructor(options: JournalOptions) {
    this.#directory = options.directory;
    this.#fsync = options.fsync ?? false;
    mkdirSync(this.#directory, { recursive: true });
  }

  /**
   * Segments left by processes that are gone, oldest first, with their records (a torn last line
   * is dropped). Segments of a live process (another replica sharing the directory) are left to it.
   */
  leftovers(): Array<{ path: string; records: GenerationRecord[] }> {
    return readdirSync(this.#directory)
      .filter((name) => name.endsWith(SEGMENT_SUFFIX) && !ownedByLiveProcess(name))
      .sort()
      .map((name) => {
        const path = join(this.#directory, name);
        const records: GenerationRecord[] = [];
        for (const line of readFileSync(path, 'utf8').split('\n')) {
          if (line.trim() === '') continue;
          try {
            records.push(JSON.parse(line) as GenerationRecord);
          } catch {
            // A line cut short by the crash: its response never finished either.
          }
        }
        return { path, records };
      });
  }

  append(record: GenerationRecord): void {
    if (this.#descriptor === null) this.#open();
    const descriptor = this.#descriptor as number;
    writeSync(descriptor, JSON.stringify(record) + '\n');
    if (this.#fsync) fsyncSync(descriptor);
  }

  /** Closes the current segment and returns its path; the next append starts a new one. */
  rotate(): string | null {
    const path = this.#segmentPath;
    if (this.#descriptor !== null) closeSync(this.#descriptor);
    this.#descriptor = null;
    this.#segmentPath = null;
    return path;
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
