-- Generation log: one row per request; the full record is JSONB, the queried fields are columns.
CREATE TABLE generations (
  id TEXT PRIMARY KEY,
  created_at TIMESTAMPTZ NOT NULL,
  key_hash TEXT,
  user_id TEXT,
  team_id TEXT,
  model TEXT NOT NULL,
  status INTEGER NOT NULL,
  -- USD, exact: NUMERIC never rounds a sum.
  total_cost NUMERIC(38, 18) NOT NULL,
  record JSONB NOT NULL
);
CREATE INDEX generations_created_at ON generations (created_at, id);
CREATE INDEX generations_key_created_at ON generations (key_hash, created_at);

-- Gateway API keys, stored by sha256; never the plaintext.
CREATE TABLE api_keys (
  hash TEXT PRIMARY KEY,
  lookup TEXT NOT NULL,
  name TEXT NOT NULL,
  label TEXT NOT NULL,
  limit_usd NUMERIC(38, 18),
  limit_reset TEXT CHECK (limit_reset IN ('daily', 'weekly', 'monthly')),
  is_management_key BOOLEAN NOT NULL DEFAULT FALSE,
  disabled BOOLEAN NOT NULL DEFAULT FALSE,
  user_id TEXT,
  team_id TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ
);
CREATE INDEX api_keys_lookup ON api_keys (lookup);
