/**
 * The logging surface the sidecar uses. pino's logger satisfies it; tests pass `silentLogger`.
 * Structured fields first, message second, as pino takes them.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

function ignore(): void {}

/** Drops everything. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
