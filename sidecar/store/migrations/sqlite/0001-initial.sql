-- Generation log: one row per request; the full record is JSON, the queried fields are columns.
CREATE TABLE generations (
  id TEXT PRIMARY KEY,
  -- UTC ISO 8601 with milliseconds, so text order is time order.
  created_at TEXT NOT NULL,
  key_hash TEXT,
  user_id TEXT,
  team_id TEXT,
  model TEXT NOT NULL,
  status INTEGER NOT NULL,
  -- USD, exact canonical decimal string; summed with the decimal_sum() function, never as REAL.
  total_cost TEXT NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX generations_created_at ON generations (created_at, id);
CREATE INDEX generations_key_created_at ON generations (key_hash, created_at);

-- Gateway API keys, stored by sha256; never the plaintext.
CREATE TABLE api_keys (
  hash TEXT PRIMARY KEY,
  lookup TEXT NOT NULL,
  name TEXT NOT NULL,
  label TEXT NOT NULL,
  limit_usd TEXT,
  limit_reset TEXT CHECK (limit_reset IN ('daily', 'weekly', 'monthly')),
  is_management_key INTEGER NOT NULL DEFAULT 0,
  disabled INTEGER NOT NULL DEFAULT 0,
  user_id TEXT,
  team_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  expires_at TEXT,
  revoked_at TEXT
);
CREATE INDEX api_keys_lookup ON api_keys (lookup);
