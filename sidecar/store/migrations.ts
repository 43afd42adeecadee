/**
 * Versioned schema migrations: `migrations/<dialect>/NNNN-name.sql`, applied in order, each once,
 * recorded in `schema_migrations`. Files are never edited after release; changes are new files.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATION_NAME = /^(\d{4})-([a-z0-9-]+)\.sql$/;

export function readMigrations(dialect: 'sqlite' | 'postgres'): Migration[] {
  const directory = fileURLToPath(new URL(`./migrations/${dialect}/`, import.meta.url));
  return readdirSync(directory)
    .flatMap((file) => {
      const match = MIGRATION_NAME.exec(file);
      if (!match) return [];
      return [{ version: Number(match[1]), name: match[2] ?? file, sql: readFileSync(directory + file, 'utf8') }];
    })
    .sort((left, right) => left.version - right.version);
}
