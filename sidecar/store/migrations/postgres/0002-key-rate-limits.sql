-- A stored key's own per-minute rate limits (`rate_limit` in the key API, `--rpm`/`--tpm` in the CLI).
-- NULL: the config-wide default (`accounting.rate_limits`) applies; 0: no limit of that kind.
ALTER TABLE api_keys
  ADD COLUMN rate_limit_rpm BIGINT CHECK (rate_limit_rpm >= 0),
  ADD COLUMN rate_limit_tpm BIGINT CHECK (rate_limit_tpm >= 0);
