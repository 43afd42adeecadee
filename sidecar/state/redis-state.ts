/**
 * Budgets and rate limits in Redis, shared by every replica. Each operation runs inside a Lua
 * script, so reserve/settle/check are atomic across replicas. A request takes part in two round
 * trips: `admit` (rate check + hold) before the call, and `settle` (release + spend + token count)
 * after it. Every admit, reserve, rate check and settlement started in the same event-loop turn
 * goes in one script call (`BATCH_SCRIPT`, at most `MAX_BATCH_OPERATIONS`), each answered on its
 * own: under load the socket writes, commands and script runs are shared by a turn's requests.
 *
 * Exact money in Redis: Lua has only doubles, exact for integers below 2^53. An amount is kept as
 * two integer fields, micro-dollars (`*_m`) and the remainder in 10^-18 USD below a micro-dollar
 * (`*_a`, 0 <= a < 10^12), with carries done in the script: exact to 10^-18 USD up to about
 * $9 billion per counter.
 *
 * Key layout (prefix default `switchyard:`; `<scope>` is the scope key verbatim):
 * - `<prefix>scope:<scope>`   HASH spent_m, spent_a, reserved_m, reserved_a, alert:<fraction> = 1,
 *   and the scope's holds by group: `h:<instance>.<sequence>` = "<amount in 10^-18 USD> <expiry,
 *   epoch ms>", what the group's holds not yet settled hold (dropped when that reaches 0), and
 *   `next` = a time at or before the earliest group's expiry (absent when there was none)
 * - `<prefix>rate:<subject>:<window start ms>:requests|tokens`  integer counters, expire after the window
 * Scope keys expire one day after their period ends (`periodEndsAt`, as a TTL from the injected clock); without it they are kept.
 * A hold group is the holds one state instance (`<instance>`, random per process) took in one
 * script call, all with the expiry of the call's first (see `#hold`); a reservation knows its
 * group and amount (`HeldReservation`), and its settlement takes that amount off the group. Holds
 * expire after `holdTtlMs` (a crashed replica's holds stop counting), and since a group's holds
 * share their expiry, a group expires as each of its holds does: a hold that would not fit drops
 * the scope's expired groups first, and so does every read; `next` tells when there may be any,
 * so neither scans the hash otherwise.
 *
 * Scripts receive every key in KEYS, so they are correct on a single Redis or a Sentinel set; on
 * Redis Cluster every key of one request would have to share a hash slot, which this layout does
 * not arrange (not supported).
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import { formatUnits, parseUnits } from '../accounting/decimal.ts';
import {
  DEFAULT_HOLD_TTL_MS,
  PERIOD_GRACE_MS,
  rateWindow,
  type AccountingState,
  type AdmitResult,
  type AlertEvent,
  type FailMode,
  type RateLimits,
  type RateResult,
  type Reservation,
  type ReserveResult,
  type ScopeHeadroom,
  type ScopeLimit,
  type SettleResult,
  type TokenCount,
} from './accounting-state.ts';
import { allowedWithWindows, describeWindows } from './memory-state.ts';
import { amountUnits, headroomOf, ScopeCache, settledWith, snapshotNumber, termsOf } from './scope-math.ts';

const MICRO = 10n ** 12n;

/** Units as the [micro, remainder] pair of decimal integer strings the scripts take. */
function toPair(units: bigint): [string, string] {
  return [(units / MICRO).toString(), (units % MICRO).toString()];
}

/** Units as the pair of JSON numbers the batch script takes (`micro,remainder`). */
function pairFields(units: bigint): string {
  return `${units / MICRO},${units % MICRO}`;
}

function fromPair(micro: string | null | undefined, remainder: string | null | undefined): bigint {
  return BigInt(micro ?? '0') * MICRO + BigInt(remainder ?? '0');
}

/**
 * Pair arithmetic and holds, shared by the scripts. `fmt` renders an integer-valued double without
 * exponent; `units` splits an integer string of 10^-18 USD into its pair; `held_amount` and
 * `held_until` read a hold's value ("<amount> <expiry>").
 */
const LUA_PAIRS = `
local BASE = 1000000000000
local find, substring, match, format = string.find, string.sub, string.match, string.format
local function fmt(x) return format('%.0f', x) end
local function units(text)
  local length = #text
  if length <= 12 then return 0, tonumber(text) end
  return tonumber(substring(text, 1, length - 12)), tonumber(substring(text, length - 11))
end
local function sub(m1, a1, m2, a2)
  local m, a = m1 - m2, a1 - a2
  if a < 0 then a = a + BASE; m = m - 1 end
  if m < 0 then return 0, 0 end
  return m, a
end
local function held_amount(value)
  return units(substring(value, 1, find(value, ' ', 1, true) - 1))
end
local function held_until(value)
  return tonumber(substring(value, find(value, ' ', 1, true) + 1))
end
local function keep(key, ttl_ms)
  if ttl_ms > 0 then redis.call('PEXPIRE', key, ttl_ms) end
end
`;

/**
 * Every reserve, admit, rate check and settlement started in one turn of the event loop, in one
 * script call: each operation is still atomic (the whole call is) and gets its own reply. The
 * operations run in the order given: the client puts the settlements first and merges requests
 * the script treats alike (see `Batch`), so one operation may stand for several requests.
 * Amounts travel as pairs of JSON numbers (micro-dollars, then the remainder in 10^-18 USD, both
 * exact in a double); replies give totals as integer strings of 10^-18 USD (`total`). The scopes
 * are one argument and the operations another, each a JSON array that `cjson.decode` (C) turns
 * into tables of numbers at once, and each operation's reply is one line: in Lua every new string
 * costs about as much as a cheap command, and a field matched out of a text is a new string, a
 * number decoded by cjson is not.
 *
 * The cost of a call is its Redis commands and, as much, the strings the script makes (each new
 * Lua string costs about as much as a cheap command). So a call touches each scope hash at most
 * three times, whatever the number of operations: one HMGET when an operation first needs the
 * scope (its counters, fired alerts, `next`, and the groups the call's settlements release from),
 * one HSET at the end (changed counters, alerts fired, changed groups, `next`), and one HDEL
 * (emptied or expired groups); in between, the scope's state lives in the script. Holds are kept
 * by group (see the key layout) so that a call writes one field per group, not one per hold.
 * Only a hold that does not fit while `next` says a group may have expired reads the whole hash
 * (HGETALL), once per call, to drop the expired ones; `next` is then exact again. Rate counters
 * are read once (MGET) and written once (one INCRBY each). Time to live is set when it can have
 * changed: a rate counter's when the INCRBY created it, a scope hash's when this call created it
 * (holds are fields of it, so they share it). And a settlement answers only the alerts it fired:
 * its spent totals follow from the first reply line (see `RedisAccountingState.#spentAfter`).
 *
 * KEYS: the keys of the batch, each once. ARGV[1]: the scopes, a JSON array with per scope
 * `[index in KEYS of its scope key, limit (pair), keep_ttl in ms (0 = keep)` then per alert
 * threshold its field (`"alert:<label>"`) and amount (pair)`]`. ARGV[2]: the operations, a JSON
 * array with per operation `[code, fields...]`, amounts as pairs and the scopes as a JSON array
 * of positions in the scope list (`[1,2]`):
 * - `h` hold: now, group field, amount, hold_until, scopes. Reply `1`, or
 *   `0 <position> <spent> <reserved>`. Every hold the call adds to a group has the group's expiry;
 *   adding to a group dropped earlier in the call (possible only if the clock went back) fails.
 * - `r` rate: requests key, tokens key, requests limit (-1 none), tokens limit (-1 none), time to
 *   live (ms). Reply `<allowed 1|0> <limited requests|tokens|-> <requests> <tokens>`.
 * - `a` admits of one subject: the rate fields, now, group field, hold_until, scopes, then one
 *   amount per admit. Each admit in turn is a rate check and, when allowed, a hold. Reply: the
 *   requests and tokens counted before the operation, then per admit `r` or `t` (refused by the
 *   request or token limit), or the hold's reply (`1`, or the four words of a refusal), spaced;
 *   `RedisAccountingState.#admitReplies` turns it back into each admit's own fields.
 * - `s` settle: tokens key (0 none), tokens, tokens time to live (ms), group field (`-` none),
 *   amount held, actual, scopes: one settlement, or the sums of several of one group. Takes the
 *   amount held off its group (at most what the group still holds) and off reserved where the
 *   group is still there (not expired and dropped), and adds actual to spent. Reply: empty when it
 *   crossed no alert threshold, else per scope the labels of the thresholds it crossed
 *   ("0.5,0.8", or "-"); the client gives each to the settlement whose running total reached it.
 * Returns one line per scope's spent before the call (in scope order, `-` for a scope no
 * operation read), then the replies, one line each. An operation that fails (a key of the wrong
 * type) answers `!<error>` and the others go on, as separate calls would; it has changed nothing,
 * except that the admits of an `a` operation before the one that failed keep what they took (their
 * requests count, their holds expire).
 */
const BATCH_SCRIPT = `${LUA_PAIRS}
local function total(m, a)
  if m == 0 then return fmt(a) end
  return format('%.0f%012.0f', m, a)
end
-- Both argument lists are JSON (see above): cjson reads numbers as numbers, so no Lua string is made per field.
local scopes = cjson.decode(ARGV[1])
for d = 1, #scopes do
  local a = scopes[d]
  local thresholds = {}
  local fields = {'spent_m', 'spent_a', 'reserved_m', 'reserved_a', 'next'}
  for t = 5, #a, 3 do
    thresholds[#thresholds + 1] = {a[t], a[t + 1], a[t + 2]}
    fields[#fields + 1] = a[t]
  end
  scopes[d] = {key = KEYS[a[1]], lm = a[2], la = a[3], ttl = a[4], thresholds = thresholds, fields = fields, wanted = {}, loaded = false}
end
-- Operations read up front, so that a scope's one read includes the groups the call's settlements release from.
local operations = cjson.decode(ARGV[2])
for _, o in ipairs(operations) do
  local code = o[1]
  if code ~= 'r' then
    -- The scope positions become the scopes.
    local list = code == 'h' and o[7] or o[10]
    for k = 1, #list do list[k] = scopes[list[k]] end
    if code == 's' and o[5] ~= '-' then
      local group = o[5]
      for _, s in ipairs(list) do
        if not s.wanted[group] then
          s.wanted[group] = true
          s.fields[#s.fields + 1] = group
        end
      end
    end
  end
end
-- A scope's counters, fired alerts and the groups its settlements name, read on first use; written
-- back at the end. s.groups: field -> {m, a, expiry (epoch ms, text or number), touched} while it holds anything,
-- false once dropped (nil: not read). s.touched: groups changed in this call. s.watch: the
-- lowest threshold not fired yet (nil: none).
local function watch(s)
  s.watch = nil
  for t, threshold in ipairs(s.thresholds) do
    if not s.alerted[t] then
      s.watch = threshold
      return
    end
  end
end
local function group_of(value)
  local amount, expiry = match(value, '^(%d+) (%S+)$')
  local m, a = units(amount)
  return {m, a, expiry, false}
end
local function load(s)
  if s.loaded then return end
  local fields = s.fields
  local values = redis.call('HMGET', s.key, unpack(fields))
  s.sm, s.sa = tonumber(values[1] or '0'), tonumber(values[2] or '0')
  s.rm, s.ra = tonumber(values[3] or '0'), tonumber(values[4] or '0')
  s.created = not values[1] and not values[3]
  s.spent_at_load = values[1] and total(s.sm, s.sa) or '0'
  s.next = values[5] and tonumber(values[5]) or nil
  s.stored_next = s.next
  local thresholds = #s.thresholds
  s.alerted = {}
  for t = 1, thresholds do s.alerted[t] = values[5 + t] and true or false end
  watch(s)
  local groups = {}
  for k = 6 + thresholds, #fields do
    local value = values[k]
    groups[fields[k]] = value and group_of(value) or false
  end
  s.groups, s.touched, s.fired = groups, {}, {}
  s.spent_changed, s.reserved_changed, s.scanned = false, false, false
  s.loaded = true
end
local function touch(s, field, g)
  if not g[4] then
    g[4] = true
    s.touched[#s.touched + 1] = field
  end
end
-- Takes m, a (at most what the group holds) off a group and off reserved; an emptied group is dropped.
local function release(s, field, g, m, a)
  s.rm, s.ra = sub(s.rm, s.ra, m, a)
  s.reserved_changed = true
  g[1], g[2] = sub(g[1], g[2], m, a)
  touch(s, field, g)
  if g[1] == 0 and g[2] == 0 then s.groups[field] = false end
end
-- Drops the expired groups of a loaded scope, releasing what they held; s.next becomes exact.
local function purge(s, now)
  if not s.scanned then
    local all = redis.call('HGETALL', s.key)
    for k = 1, #all, 2 do
      local field = all[k]
      if substring(field, 1, 2) == 'h:' and s.groups[field] == nil then s.groups[field] = group_of(all[k + 1]) end
    end
    s.scanned = true
  end
  local next = nil
  for field, g in pairs(s.groups) do
    if g then
      local expiry = tonumber(g[3])
      if expiry <= now then
        release(s, field, g, g[1], g[2])
        s.groups[field] = false
      elseif next == nil or expiry < next then
        next = expiry
      end
    end
  end
  s.next = next
end
-- Rate counters by index in KEYS, read on first use; the increments are written at the end.
local counters = {}
local counted = {}
local function counter(k, value)
  local c = counters[k]
  if c == nil then
    if value == nil then value = redis.call('GET', KEYS[k]) end
    local n = tonumber(value or '0')
    if n == nil then error('ERR value is not an integer') end
    c = {value = n, delta = 0, ttl = 0}
    counters[k] = c
    counted[#counted + 1] = k
  end
  return c
end
-- As scope-math.ts \`fits\`: spent below the limit, and spent + reserved + amount within it.
local function fits(s, am, aa)
  local sm, sa, lm, la = s.sm, s.sa, s.lm, s.la
  if sm > lm or (sm == lm and sa >= la) then return false end
  local tm, ta = sm + s.rm + am, sa + s.ra + aa
  while ta >= BASE do tm, ta = tm + 1, ta - BASE end
  return tm < lm or (tm == lm and ta <= la)
end
local function hold(now, field, am, aa, hold_until, list)
  -- Every scope is checked against its counters before this hold: a scope named twice is held twice.
  for position, s in ipairs(list) do
    load(s)
    -- Expired holds are dropped only when the hold does not fit without that: dropping them can
    -- only make it fit (reads drop them too, so what headroom reports is the same). After a
    -- purge every group left expires after now, so s.next > now and the same instant purges once.
    if not fits(s, am, aa) then
      if s.next ~= nil and s.next <= now then purge(s, now) end
      if not fits(s, am, aa) then
        return '0 ' .. position .. ' ' .. total(s.sm, s.sa) .. ' ' .. total(s.rm, s.ra)
      end
    end
    -- A group gets holds in the one call that names it, all with its expiry; one dropped in
    -- this same call can only have expired (by a clock that went back): refuse rather than mix.
    if s.groups[field] == false then error('ERR hold group expired in the call that took it') end
  end
  local expiry = hold_until
  for _, s in ipairs(list) do
    local g = s.groups[field]
    if not g then
      g = {0, 0, hold_until, false}
      s.groups[field] = g
    end
    local m, a = g[1] + am, g[2] + aa
    if a >= BASE then m, a = m + 1, a - BASE end
    g[1], g[2] = m, a
    touch(s, field, g)
    m, a = s.rm + am, s.ra + aa
    if a >= BASE then m, a = m + 1, a - BASE end
    s.rm, s.ra = m, a
    s.reserved_changed = true
    if s.next == nil or expiry < s.next then s.next = expiry end
  end
  return '1'
end
local function rate_counters(o)
  local requests_index, tokens_index = o[2], o[3]
  if counters[requests_index] == nil and counters[tokens_index] == nil then
    local values = redis.call('MGET', KEYS[requests_index], KEYS[tokens_index])
    counter(requests_index, values[1])
    counter(tokens_index, values[2])
  end
  return counter(requests_index), counter(tokens_index)
end
local function rate(o)
  local requests, tokens = rate_counters(o)
  local request_limit, token_limit = o[4], o[5]
  if request_limit >= 0 and requests.value + 1 > request_limit then return false, '0 requests ' .. fmt(requests.value) .. ' ' .. fmt(tokens.value) end
  if token_limit >= 0 and tokens.value >= token_limit then return false, '0 tokens ' .. fmt(requests.value) .. ' ' .. fmt(tokens.value) end
  requests.value, requests.delta, requests.ttl = requests.value + 1, requests.delta + 1, o[6]
  return true, fmt(requests.value) .. ' ' .. fmt(tokens.value)
end
local function settle(o)
  local list = o[10]
  -- Everything read before anything changes, so that a failed read leaves the call's state as it was.
  for _, s in ipairs(list) do load(s) end
  local tokens_index, tokens = o[2], o[3]
  if tokens_index > 0 and tokens > 0 then
    local c = counter(tokens_index)
    c.value, c.delta, c.ttl = c.value + tokens, c.delta + tokens, o[4]
  end
  local field = o[5]
  local hm, ha, am, aa = o[6], o[7], o[8], o[9]
  local reply = nil
  for position, s in ipairs(list) do
    -- The hold is released only while its group holds anything (not expired and dropped).
    local g = field ~= '-' and s.groups[field]
    if g then
      local m, a = hm, ha
      if g[1] < m or (g[1] == m and g[2] < a) then m, a = g[1], g[2] end
      release(s, field, g, m, a)
    end
    local m, a = s.sm + am, s.sa + aa
    if a >= BASE then m, a = m + 1, a - BASE end
    s.sm, s.sa = m, a
    s.spent_changed = true
    local fired = '-'
    local lowest = s.watch
    if lowest ~= nil and (m > lowest[2] or (m == lowest[2] and a >= lowest[3])) then
      for t, threshold in ipairs(s.thresholds) do
        if not s.alerted[t] and (m > threshold[2] or (m == threshold[2] and a >= threshold[3])) then
          s.alerted[t] = true
          s.fired[#s.fired + 1] = threshold[1]
          local label = substring(threshold[1], 7)
          fired = fired == '-' and label or fired .. ',' .. label
        end
      end
      watch(s)
    end
    -- The reply is made only when an alert fires: most settlements answer ''.
    if fired ~= '-' then
      if reply == nil then
        reply = {}
        for earlier = 1, position - 1 do reply[earlier] = '-' end
      end
      reply[position] = fired
    elseif reply ~= nil then
      reply[position] = fired
    end
  end
  return reply and table.concat(reply, ' ') or ''
end
local function run(o)
  local code = o[1]
  if code == 'h' then return hold(o[2], o[3], o[4], o[5], o[6], o[7]) end
  if code == 's' then return settle(o) end
  local allowed, reply = rate(o)
  if not allowed then return reply end
  return '1 - ' .. reply
end
-- The admits of an 'a' operation, each a rate check and then a hold; one short word each in the reply.
local function admits(o)
  local requests, tokens = rate_counters(o)
  local reply = {fmt(requests.value), fmt(tokens.value)}
  local request_limit, token_limit, ttl = o[4], o[5], o[6]
  local now, field, hold_until, list = o[7], o[8], o[9], o[10]
  for k = 11, #o, 2 do
    if request_limit >= 0 and requests.value + 1 > request_limit then
      reply[#reply + 1] = 'r'
    elseif token_limit >= 0 and tokens.value >= token_limit then
      reply[#reply + 1] = 't'
    else
      requests.value, requests.delta, requests.ttl = requests.value + 1, requests.delta + 1, ttl
      reply[#reply + 1] = hold(now, field, o[k], o[k + 1], hold_until, list)
    end
  end
  return table.concat(reply, ' ')
end
local function failure(reply)
  return '!' .. string.gsub(type(reply) == 'table' and reply.err or tostring(reply), '\\n', ' ')
end
local replies = {''}
for i, o in ipairs(operations) do
  local ok, reply = pcall(o[1] == 'a' and admits or run, o)
  replies[i + 1] = ok and reply or failure(reply)
end
-- First line: each scope's spent before the call ('-' when no operation read it).
local spent = {}
for d, s in ipairs(scopes) do spent[d] = s.loaded and s.spent_at_load or '-' end
replies[1] = table.concat(spent, ' ')
-- What changed, written back once per key.
for _, s in ipairs(scopes) do
  if s.loaded then
    local values, dropped = {}, {}
    if s.spent_changed then
      values[#values + 1] = 'spent_m'; values[#values + 1] = fmt(s.sm)
      values[#values + 1] = 'spent_a'; values[#values + 1] = fmt(s.sa)
    end
    if s.reserved_changed then
      values[#values + 1] = 'reserved_m'; values[#values + 1] = fmt(s.rm)
      values[#values + 1] = 'reserved_a'; values[#values + 1] = fmt(s.ra)
    end
    for _, field in ipairs(s.fired) do
      values[#values + 1] = field; values[#values + 1] = '1'
    end
    for _, field in ipairs(s.touched) do
      local g = s.groups[field]
      if g then
        values[#values + 1] = field; values[#values + 1] = total(g[1], g[2]) .. ' ' .. g[3]
      else
        dropped[#dropped + 1] = field
      end
    end
    if s.next ~= s.stored_next then
      if s.next then
        values[#values + 1] = 'next'; values[#values + 1] = fmt(s.next)
      else
        dropped[#dropped + 1] = 'next'
      end
    end
    if #values > 0 then
      redis.call('HSET', s.key, unpack(values))
      if s.created then keep(s.key, s.ttl) end
    end
    if #dropped > 0 then redis.call('HDEL', s.key, unpack(dropped)) end
  end
end
for _, k in ipairs(counted) do
  local c = counters[k]
  if c.delta > 0 and redis.call('INCRBY', KEYS[k], c.delta) == c.delta then redis.call('PEXPIRE', KEYS[k], c.ttl) end
end
return table.concat(replies, '\\n')
`;

/**
 * KEYS: scope. ARGV: spent_m, spent_a, keep_ttl (ms), then the `alert:<fraction>` fields of the
 * thresholds the seeded spend already reached (they fired before; they do not fire again). Returns
 * 1 when it seeded, 0 when a counter existed.
 */
const SEED_SCRIPT = `${LUA_PAIRS}
if redis.call('HEXISTS', KEYS[1], 'spent_m') == 1 then return 0 end
local values = {'spent_m', ARGV[1], 'spent_a', ARGV[2]}
for i = 4, #ARGV do values[#values + 1] = ARGV[i]; values[#values + 1] = '1' end
redis.call('HSET', KEYS[1], unpack(values))
keep(KEYS[1], tonumber(ARGV[3]))
return 1
`;

/**
 * KEYS: scope keys. ARGV: now. Drops each scope's expired holds (only when `next` says there may
 * be some). Returns per scope {spent_m, spent_a, reserved_m, reserved_a}.
 */
const READ_SCRIPT = `${LUA_PAIRS}
local now = tonumber(ARGV[1])
local results = {}
for i, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, 'spent_m', 'spent_a', 'reserved_m', 'reserved_a', 'next')
  local sm, sa = tonumber(values[1] or '0'), tonumber(values[2] or '0')
  local rm, ra = tonumber(values[3] or '0'), tonumber(values[4] or '0')
  if values[5] and tonumber(values[5]) <= now then
    local all = redis.call('HGETALL', key)
    local expired, next = {}, nil
    for k = 1, #all, 2 do
      if substring(all[k], 1, 2) == 'h:' then
        local value = all[k + 1]
        local expiry = held_until(value)
        if expiry <= now then
          local m, a = held_amount(value)
          rm, ra = sub(rm, ra, m, a)
          expired[#expired + 1] = all[k]
        elseif next == nil or expiry < next then
          next = expiry
        end
      end
    end
    if next then
      redis.call('HSET', key, 'reserved_m', fmt(rm), 'reserved_a', fmt(ra), 'next', fmt(next))
    else
      redis.call('HSET', key, 'reserved_m', fmt(rm), 'reserved_a', fmt(ra))
      expired[#expired + 1] = 'next'
    end
    if #expired > 0 then redis.call('HDEL', key, unpack(expired)) end
  end
  results[i] = {fmt(sm), fmt(sa), fmt(rm), fmt(ra)}
end
return results
`;
export interface RedisStateOptions {
  url: string;
  /** Prepended to every key; default `switchyard:`. Tests use a unique one per run. */
  prefix?: string;
  /** See `FailMode`; default `closed`. */
  fail?: FailMode;
  holdTtlMs?: number;
  /** Epoch ms; injectable for tests. Replicas' clocks should agree to well under a minute. */
  clock?: () => number;
  /** How long one command may take before it counts as unreachable; default 1000 ms. */
  commandTimeoutMs?: number;
  /** Hears every Redis failure (log it); the operation then follows `fail`. */
  onError?: (error: unknown) => void;
  /** Least time between two script calls' sends under load, ms; default 3 (see `RedisAccountingState.#sendDue`); 0 sends as soon as no call is in flight. */
  callSpacingMs?: number;
  /** Extra ioredis options. */
  redis?: RedisOptions;
}

type ScriptName = 'batch' | 'seed' | 'read';
const SCRIPTS: Record<ScriptName, string> = { batch: BATCH_SCRIPT, seed: SEED_SCRIPT, read: READ_SCRIPT };

/** What the batch script needs of a scope, derived once per scope key and limit (see `ScopeCache`). */
interface ScopeEntry {
  /** The scope hash's key. */
  key: string;
  limit: bigint;
  /** The limit as the script's pair (`micro,remainder`). */
  limitFields: string;
  /** `,"alert:<label>",<amount pair>` per threshold, in order. */
  thresholdFields: string;
}

/**
 * The operations of one event-loop turn, sent as one script call (see `BATCH_SCRIPT`). Any order
 * of them is a valid one (none has been answered), so the call runs the settlements first (they
 * count spend that has already happened, so the admits after them see the latest), then the rest
 * in the order started; and requests that the script would treat alike share one operation:
 * settlements of one hold group, token counter and scope list become one settlement of their sums
 * (`SettleOperation`), admits of one subject with the same limits and scopes one operation with a
 * list of amounts (`AdmitOperation`). Under load that is a handful of operations per call instead
 * of two per request: Redis decodes and runs a few hundred Lua values less per call (each costs it
 * about 0.1 us), and the gateway builds less text.
 */
interface Batch {
  keys: string[];
  /** Rate counter key -> its index in `keys` (1-based, as in Lua). */
  keyIndex: Map<string, number>;
  /** Scope key -> its index in the scope list (1-based), with the entry it was described from. */
  scopeIndex: Map<string, { index: number; entry: ScopeEntry }>;
  /** Per scope, its JSON array text (see `BATCH_SCRIPT`). */
  scopeArguments: string[];
  /** Settlements by group, token counter and scopes: the call's first operations, in this order. */
  settles: Map<string, SettleOperation>;
  /** Holds, rate checks and admits, in the order started (an admit where its operation first was). */
  operations: Array<TextOperation | AdmitOperation>;
  /** Admit operations by subject's counters, limits, hold group and scopes. */
  admits: Map<string, AdmitOperation>;
  /** Requests' operations (each admit, settlement, hold and rate check counts one). */
  count: number;
  /** The hold group of the call's holds: they share the expiry of its first (see `#hold`). */
  group: { field: string; until: number } | undefined;
  /** Whether the settlements' `after` totals have been worked out (on first use). */
  totalled: boolean;
  /** The reply lines: each scope's spent before the call, then one per operation; rejects when the call failed as a whole. */
  replies: Promise<string[]>;
  /** Sends the batch (once, whoever calls it first: the end of the turn, or the settlements' wait). */
  go: () => void;
  /** Whether an operation that a request waits on (hold, admit, rate check) is in it. */
  urgent: boolean;
  /** Whether `#release` took it (sent, or waiting for the call in flight): a later release does nothing. */
  queued: boolean;
}

/** Where an operation's reply is in the call's reply lines; set as the call's arguments are built. */
interface Placed {
  line: number;
}

/** A hold or a rate check: its JSON array text. */
interface TextOperation extends Placed {
  text: string;
}

/** Admits of one subject, limits, hold group and scopes (see `BATCH_SCRIPT`). */
interface AdmitOperation extends Placed {
  /** `["a",<rate fields>,now,"group",until,[scopes]` of the first admit. */
  head: string;
  /** `,<amount pair>` per admit. */
  amounts: string;
  count: number;
  /** Per admit, its reply fields as a single admit's (see `#admitReplies`), once read. */
  replies?: string[][];
}

/** Settlements of one hold group, token counter and scope list: the script sees their sums. */
interface SettleOperation extends Placed {
  tokensIndex: number;
  tokens: number;
  tokensTtl: number;
  /** Hold group field, `-` for settlements without a hold. */
  group: string;
  held: bigint;
  actual: bigint;
  positions: number[];
  members: Settlement[];
  /** Whether the members' alerts have been worked out from the reply (on first use). */
  alerted: boolean;
}

/** A settlement in a batch: what it adds to spent, and its share of its operation's reply. */
interface Settlement {
  actual: bigint;
  /** Spent per scope after it, when its operation succeeded (see `#spentAfter`). */
  after?: bigint[];
  /** Labels of the thresholds it crossed, per scope (see `#alertsOf`). */
  fired?: string[][];
}

/** A hold this state took and has not settled yet: what it holds where (see `BATCH_SCRIPT`). */
interface Held {
  /** Its group's field in the scope hashes, `h:<instance>.<sequence>`. */
  group: string;
  /** The amount held, and as the script's pair (`micro,remainder`). */
  units: bigint;
  amount: string;
  /** Expiry, epoch ms. */
  until: number;
}

/** A rate counter pair of one subject in one window. */
interface RateKeys {
  windowStart: number;
  requests: string;
  tokens: string;
}

/**
 * Operations per script call at most: one call blocks Redis while it runs (about 5 us per
 * operation, some 170 us for a full call of admits and settlements on two scopes), so a burst goes
 * as several calls that other clients' commands can come between. 64 measured: redis-server 1 us
 * less per request, the gateway 0.4 us more, and calls twice as long.
 */
const MAX_BATCH_OPERATIONS = 32;
/** How long a batch of settlements alone waits for an admit to ride with, ms (see `#currentBatch`). */
const SETTLE_WAIT_MS = 2;
/** Least time from one script call's send to the next one's, ms, by default (see `#sendDue`). */
const DEFAULT_CALL_SPACING_MS = 3;
/** Operations the last call carried from which the next one is spaced (see `#sendDue`). */
const SPACED_FROM_OPERATIONS = 8;

/** Entries kept before a key cache starts over. */
const KEY_CACHE_SIZE = 10_000;

export class RedisAccountingState implements AccountingState {
  readonly kind = 'redis';
  readonly redis: Redis;
  readonly #prefix: string;
  readonly #fail: FailMode;
  readonly #holdTtlMs: number;
  readonly #clock: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #scopes = new ScopeCache<ScopeEntry>((scope) => this.#scopeEntry(scope));
  readonly #rateKeys = new Map<string, RateKeys>();
  /** Names this state's hold groups and reservations apart from other replicas' (with `#sequence`). */
  readonly #instance = randomBytes(9).toString('base64url');
  #sequence = 0;
  #batch: Batch | undefined;
  /** Script calls sent and not answered yet. */
  #callsInFlight = 0;
  /** Batches due while a call was in flight or too soon after the last send (see `#sendDue`). */
  #due: Batch[] = [];
  readonly #callSpacingMs: number;
  /** When the last script call was sent (`performance.now()`), and how many operations it carried. */
  #lastSend = Number.NEGATIVE_INFINITY;
  #lastOperations = 0;
  /** Set while due batches wait out the spacing. */
  #spacing: NodeJS.Timeout | undefined;

  constructor(options: RedisStateOptions) {
    this.#prefix = options.prefix ?? 'switchyard:';
    this.#fail = options.fail ?? 'closed';
    this.#holdTtlMs = options.holdTtlMs ?? DEFAULT_HOLD_TTL_MS;
    this.#clock = options.clock ?? Date.now;
    this.#onError = options.onError ?? (() => {});
    this.#callSpacingMs = options.callSpacingMs ?? DEFAULT_CALL_SPACING_MS;
    // Fail fast while disconnected instead of queueing requests behind a dead connection.
    // Loaded on first use, not at import: only a Redis deployment pays its memory (~15 MB of RSS).
    const { Redis: RedisClient } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
    this.redis = new RedisClient(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      ...options.redis,
    });
    this.redis.on('error', (error) => this.#onError(error));
    for (const [name, source] of Object.entries(SCRIPTS)) this.redis.defineCommand(`switchyard_${name}`, { lua: source });
  }

  /** Resolves once connected (rejects if Redis cannot be reached now). */
  async ready(): Promise<void> {
    if (this.redis.status === 'ready') return;
    if (this.redis.status === 'end') throw new Error('Redis connection is closed');
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        this.redis.off('error', onError);
        resolve();
      };
      const onError = (error: Error): void => {
        this.redis.off('ready', onReady);
        reject(error);
      };
      this.redis.once('ready', onReady);
      this.redis.once('error', onError);
    });
  }

  async reserve(scopes: readonly ScopeLimit[], worstCaseUsd: string | number): Promise<ReserveResult> {
    const amount = amountUnits(worstCaseUsd);
    const id = `${this.#instance}.${(this.#sequence++).toString(36)}`;
    // Nothing to hold against: no round trip, and no outage can refuse it.
    if (scopes.length === 0) return held(id, amount, scopes, true);
    const batch = this.#currentBatch(true);
    const now = this.#clock();
    const hold = this.#hold(batch, amount, now);
    const operation: TextOperation = { text: `["h",${now},"${hold.group}",${hold.amount},${hold.until},[${this.#positions(batch, scopes)}]]`, line: 0 };
    batch.operations.push(operation);
    try {
      return this.#holdReply(this.#replyOf(await batch.replies, operation.line), 0, scopes, amount, id, hold);
    } catch (error) {
      return this.#holdUnreachable(error, scopes, amount, id);
    }
  }

  async admit(subject: string, limits: RateLimits, scopes: readonly ScopeLimit[], worstCaseUsd: string | number): Promise<AdmitResult> {
    if (scopes.length === 0) {
      const checked = await this.checkRate(subject, limits);
      return checked.ok ? { rate: checked, hold: await this.reserve(scopes, worstCaseUsd) } : { rate: checked };
    }
    const amount = amountUnits(worstCaseUsd);
    const id = `${this.#instance}.${(this.#sequence++).toString(36)}`;
    const now = this.#clock();
    const batch = this.#currentBatch(true);
    const hold = this.#hold(batch, amount, now);
    const rate = this.#rateFields(batch, subject, limits, now);
    const positions = this.#positions(batch, scopes);
    const same = `${rate}|${hold.group}|${positions}`;
    let operation = batch.admits.get(same);
    if (operation === undefined) {
      operation = { head: `["a",${rate},${counterTtl(now)},${now},"${hold.group}",${hold.until},[${positions}]`, amounts: '', count: 0, line: 0 };
      batch.admits.set(same, operation);
      batch.operations.push(operation);
    }
    const member = operation.count++;
    operation.amounts += `,${hold.amount}`;
    let reply: string[];
    try {
      reply = this.#admitReplies(await batch.replies, operation)[member] ?? [];
    } catch (error) {
      const refused = this.#rateUnreachable(error);
      return refused.ok ? { rate: refused, hold: this.#holdUnreachable(error, scopes, amount, id) } : { rate: refused };
    }
    const checked = this.#rateReply(reply, limits, now);
    return checked.ok ? { rate: checked, hold: this.#holdReply(reply, 4, scopes, amount, id, hold) } : { rate: checked };
  }

  async checkRate(subject: string, limits: RateLimits): Promise<RateResult> {
    const now = this.#clock();
    const batch = this.#currentBatch(true);
    const operation: TextOperation = { text: `["r",${this.#rateFields(batch, subject, limits, now)},${counterTtl(now)}]`, line: 0 };
    batch.operations.push(operation);
    try {
      return this.#rateReply(this.#replyOf(await batch.replies, operation.line), limits, now);
    } catch (error) {
      return this.#rateUnreachable(error);
    }
  }

  async settle(reservation: Reservation, actualUsd: string, tokens?: TokenCount): Promise<SettleResult> {
    const actual = amountUnits(actualUsd);
    const scopes = reservation.scopes;
    if (scopes.length === 0) {
      if (tokens) await this.recordTokens(tokens.subject, tokens.tokens);
      return { recorded: true, spent: {}, alerts: [] };
    }
    if (tokens) checkTokens(tokens.tokens);
    const batch = this.#currentBatch(false);
    let tokensIndex = 0;
    let tokensTtl = 0;
    if (tokens) {
      const now = this.#clock();
      tokensIndex = this.#keyIndex(batch, this.#rateKeysOf(tokens.subject, rateWindow(now).start).tokens);
      tokensTtl = counterTtl(now);
    }
    // Only the reservation this state handed out knows its hold, and only until its first settlement.
    const hold = reservation instanceof HeldReservation ? reservation.take() : undefined;
    const group = hold === undefined ? '-' : hold.group;
    const positions = this.#positions(batch, scopes);
    const same = `${tokensIndex}|${group}|${positions}`;
    let operation = batch.settles.get(same);
    if (operation === undefined) {
      operation = { tokensIndex, tokens: 0, tokensTtl, group, held: 0n, actual: 0n, positions: positions.split(',').map(Number), members: [], alerted: false, line: 0 };
      batch.settles.set(same, operation);
    }
    operation.tokens += tokens?.tokens ?? 0;
    if (hold !== undefined) operation.held += hold.units;
    operation.actual += actual;
    const settlement: Settlement = { actual };
    operation.members.push(settlement);
    let lines: string[];
    try {
      lines = await batch.replies;
      this.#lineOf(lines, operation.line);
    } catch {
      return { recorded: false, spent: {}, alerts: [] };
    }
    const totals = this.#spentAfter(batch, lines, settlement);
    const fired = this.#alertsOf(operation, lines, settlement, scopes);
    const alerts: AlertEvent[] = [];
    for (let index = 0; index < scopes.length; index += 1) {
      const labels = fired[index];
      if (labels === undefined || labels.length === 0) continue;
      const scope = scopes[index] as ScopeLimit;
      const total = formatUnits(totals[index] ?? 0n);
      for (const label of labels) alerts.push({ scopeKey: scope.scopeKey, threshold: Number(label), spent: total, limit: scope.limit });
    }
    return settledWith(scopes, totals, alerts);
  }

  async seedSpend(scope: ScopeLimit, spentUsd: string): Promise<boolean> {
    const spent = amountUnits(spentUsd);
    try {
      const reached = termsOf(scope)
        .thresholds.filter((threshold) => spent >= threshold.units)
        .map((threshold) => `alert:${threshold.fraction}`);
      const reply = await this.#run('seed', [this.#keyOf(scope.scopeKey)], [...toPair(spent), String(this.#keepTtl(scope)), ...reached]);
      return Number(reply) === 1;
    } catch (error) {
      this.#onError(error);
      return false;
    }
  }

  async headroom(scopes: readonly ScopeLimit[]): Promise<ScopeHeadroom[]> {
    const counters = await this.#read(scopes.map((scope) => scope.scopeKey));
    return scopes.map((scope, index) => {
      const counter = counters[index] ?? { spent: 0n, reserved: 0n };
      return headroomOf(scope.scopeKey, parseUnits(scope.limit), counter.spent, counter.reserved);
    });
  }

  async snapshotSpend(scopeKeys: readonly string[]): Promise<Record<string, number>> {
    const counters = await this.#read(scopeKeys);
    const spend: Record<string, number> = {};
    scopeKeys.forEach((scopeKey, index) => {
      const counter = counters[index] ?? { spent: 0n, reserved: 0n };
      spend[scopeKey] = snapshotNumber(counter.spent, counter.reserved);
    });
    return spend;
  }

  async recordTokens(subject: string, tokens: number): Promise<void> {
    checkTokens(tokens);
    const now = this.#clock();
    const tokensKey = this.#rateKeysOf(subject, rateWindow(now).start).tokens;
    try {
      await this.redis.multi().incrby(tokensKey, tokens).pexpire(tokensKey, counterTtl(now)).exec();
    } catch (error) {
      this.#onError(error);
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /**
   * The batch operations join, sent once the turn's I/O callbacks have run when a request waits on
   * it (a hold, an admit, a rate check: `urgent`): the request path waits one turn at most (or,
   * when a call is in flight, until it answers: `#release`), and
   * under load a whole turn's requests share one round trip (one socket write, one script call)
   * instead of costing one each. Settlements wait on no request: a batch holding only settlements
   * is sent after `SETTLE_WAIT_MS`, or with the first urgent operation that joins it before then,
   * so under load a settlement rides on the next admit's script call instead of making its own
   * (each call has a fixed cost in Redis, on the same cores as the gateway). Meanwhile its hold
   * still counts, so a delay can only refuse earlier, never overspend.
   */
  #currentBatch(urgent: boolean): Batch {
    let batch = this.#batch;
    if (batch === undefined || batch.count >= MAX_BATCH_OPERATIONS) {
      let go: () => void = () => undefined;
      const started = new Promise<void>((resolve) => (go = resolve));
      const created: Batch = {
        keys: [],
        keyIndex: new Map(),
        scopeIndex: new Map(),
        scopeArguments: [],
        settles: new Map(),
        operations: [],
        admits: new Map(),
        count: 0,
        group: undefined,
        totalled: false,
        replies: started.then(() => this.#send(created)),
        go,
        urgent: false,
        queued: false,
      };
      batch = created;
      this.#batch = batch;
      if (!urgent) setTimeout(() => this.#release(created), SETTLE_WAIT_MS);
    }
    batch.count += 1;
    if (urgent && !batch.urgent) {
      batch.urgent = true;
      const due = batch;
      setImmediate(() => this.#release(due));
    }
    return batch;
  }

  /**
   * Sends a batch that is due, unless a script call is still in flight: then the batch waits for
   * that call's answer (and keeps taking operations meanwhile). Redis runs one connection's calls
   * one after the other, so a call sent behind another would have waited for it anyway; held back
   * instead, everything started meanwhile goes in one call. Under load that makes fewer, fuller
   * calls (each has a fixed cost in Redis, on the same cores as the gateway, and one socket write
   * that wakes Redis); when calls do not overlap, nothing waits.
   */
  #release(batch: Batch): void {
    if (batch.queued) return;
    batch.queued = true;
    this.#due.push(batch);
    this.#sendDue();
  }

  /**
   * Sends the due batches once no call is in flight and, under load, `callSpacingMs` has passed
   * since the last send. Spaced out, the calls each carry more requests: every call costs the
   * gateway a socket write that wakes Redis and a read (some 50-75 µs of system time here), and
   * Redis a fixed cost before its first operation, both on the gateway's cores. "Under load" is
   * read from the last call: it carried `SPACED_FROM_OPERATIONS` operations or more (several
   * requests in one event-loop turn). A client sending one request at a time, or a trickle of
   * them, makes calls of one or two operations and never waits for the spacing.
   */
  #sendDue(): void {
    if (this.#callsInFlight > 0 || this.#due.length === 0 || this.#spacing !== undefined) return;
    const wait = this.#lastOperations >= SPACED_FROM_OPERATIONS ? this.#lastSend + this.#callSpacingMs - performance.now() : 0;
    if (wait > 0) {
      this.#spacing = setTimeout(() => {
        this.#spacing = undefined;
        this.#sendDue();
      }, wait);
      return;
    }
    const due = this.#due;
    this.#due = [];
    this.#lastSend = performance.now();
    let operations = 0;
    for (const each of due) {
      operations += each.count;
      each.go();
    }
    this.#lastOperations = operations;
  }

  async #send(batch: Batch): Promise<string[]> {
    if (this.#batch === batch) this.#batch = undefined;
    this.#callsInFlight += 1;
    try {
      // One array: ioredis flattens it into the command (no copy per spread).
      const reply = await this.#command('batch').call(this.redis, [batch.keys.length, ...batch.keys, `[${batch.scopeArguments.join(',')}]`, this.#operationsArgument(batch)]);
      return String(reply).split('\n');
    } catch (error) {
      this.#onError(error);
      throw error;
    } finally {
      this.#callsInFlight -= 1;
      this.#sendDue();
    }
  }

  /**
   * The call's operations as the script's JSON array, settlements first; places each operation's
   * reply in the reply lines (line 0 is the scopes' spent before the call).
   */
  #operationsArgument(batch: Batch): string {
    const texts: string[] = [];
    for (const operation of batch.settles.values()) {
      operation.line = texts.push(`["s",${operation.tokensIndex},${operation.tokens},${operation.tokensTtl},"${operation.group}",${pairFields(operation.held)},${pairFields(operation.actual)},[${operation.positions.join(',')}]]`);
    }
    for (const operation of batch.operations) operation.line = texts.push('amounts' in operation ? `${operation.head}${operation.amounts}]` : operation.text);
    return `[${texts.join(',')}]`;
  }

  /**
   * An admit operation's reply as each admit's own fields: the rate fields (`1 - <requests>
   * <tokens>` when allowed, the count taken; `0 requests|tokens <requests> <tokens>` when not),
   * then the hold's (`1`, or `0 <position> <spent> <reserved>`). The script answers the counters
   * before the operation, then per admit `1` (held), `r` or `t` (refused by the request or token
   * limit) or the refused hold's four words: the counts follow from those, in order.
   */
  #admitReplies(lines: readonly string[], operation: AdmitOperation): string[][] {
    if (operation.replies === undefined) {
      const words = this.#replyOf(lines, operation.line);
      let requests = Number(words[0]);
      const tokens = words[1] ?? '0';
      const replies: string[][] = [];
      for (let at = 2; at < words.length; at += 1) {
        const word = words[at];
        if (word === 'r' || word === 't') {
          replies.push(['0', word === 'r' ? 'requests' : 'tokens', String(requests), tokens]);
          continue;
        }
        requests += 1;
        if (word === '1') replies.push(['1', '-', String(requests), tokens, '1']);
        else {
          replies.push(['1', '-', String(requests), tokens, '0', words[at + 1] ?? '', words[at + 2] ?? '', words[at + 3] ?? '']);
          at += 3;
        }
      }
      operation.replies = replies;
    }
    return operation.replies;
  }

  /** One request's reply fields; throws when its operation failed (after reporting it). */
  #replyOf(lines: readonly string[], line: number): string[] {
    return this.#lineOf(lines, line).split(' ');
  }

  /** One request's reply line; throws when its operation failed (after reporting it). */
  #lineOf(lines: readonly string[], line: number): string {
    const reply = lines[line];
    if (reply !== undefined && !reply.startsWith('!')) return reply;
    const error = new Error(reply === undefined ? 'no reply from Redis for this operation' : reply.slice(1));
    this.#onError(error);
    throw error;
  }

  /**
   * Spent per scope (in the settlement's order) after a settlement, from the first reply line
   * (each scope's spent before the call) and the actuals of the call's settlements that
   * succeeded, in order: the script adds exactly those to spent and changes it no other way.
   */
  #spentAfter(batch: Batch, lines: readonly string[], settlement: Settlement): bigint[] {
    if (!batch.totalled) {
      batch.totalled = true;
      const before = (lines[0] ?? '').split(' ');
      const running: Array<bigint | undefined> = [];
      // In the order the script ran them: settlement operations first, each one's members in order.
      for (const operation of batch.settles.values()) {
        const reply = lines[operation.line];
        if (reply === undefined || reply.startsWith('!')) continue;
        for (const each of operation.members) {
          const after: bigint[] = [];
          for (const position of operation.positions) {
            const total = (running[position] ?? BigInt(before[position - 1] ?? '0')) + each.actual;
            running[position] = total;
            after.push(total);
          }
          each.after = after;
        }
      }
    }
    if (settlement.after === undefined) throw new Error('no spent total for this settlement');
    return settlement.after;
  }

  /**
   * A new hold of `amount`, in the batch's hold group: the holds of one call share the expiry of
   * its first (taken earlier by at most the time the batch stayed open: its turn, the spacing or
   * the call in flight, a few ms under load, against a time to live of minutes), so that they
   * share a group and admits of one subject share an operation. Without a time to live a hold
   * expires as it is taken: each then has a group of its own.
   */
  #hold(batch: Batch, amount: bigint, now: number): Held {
    let group = this.#holdTtlMs > 0 ? batch.group : undefined;
    if (group === undefined) {
      group = { field: `h:${this.#instance}.${(this.#sequence++).toString(36)}`, until: now + this.#holdTtlMs };
      if (this.#holdTtlMs > 0) batch.group = group;
    }
    return { group: group.field, units: amount, amount: pairFields(amount), until: group.until };
  }

  /**
   * The alert thresholds a settlement crossed, per scope: its operation's reply names the
   * thresholds the operation's sum crossed, and each goes to the member whose running total
   * reached it first, as if the members had been settled one by one.
   */
  #alertsOf(operation: SettleOperation, lines: readonly string[], settlement: Settlement, scopes: readonly ScopeLimit[]): string[][] {
    if (!operation.alerted) {
      operation.alerted = true;
      const line = lines[operation.line] ?? '';
      for (const member of operation.members) member.fired = [];
      if (line !== '') {
        line.split(' ').forEach((labels, index) => {
          if (labels === '-') return;
          const thresholds = termsOf(scopes[index] as ScopeLimit).thresholds;
          for (const label of labels.split(',')) {
            const units = thresholds.find((threshold) => String(threshold.fraction) === label)?.units ?? 0n;
            const member = operation.members.find((each) => (each.after?.[index] ?? 0n) >= units) ?? operation.members[operation.members.length - 1];
            if (member === undefined) continue;
            const fired = member.fired as string[][];
            (fired[index] ??= []).push(label);
          }
        });
      }
    }
    return settlement.fired ?? [];
  }

  /** The scopes' positions in the batch's scope list, as the script's JSON (`1,2`). */
  #positions(batch: Batch, scopes: readonly ScopeLimit[]): string {
    let positions = '';
    for (const scope of scopes) positions += positions === '' ? `${this.#scopeIndex(batch, scope)}` : `,${this.#scopeIndex(batch, scope)}`;
    return positions;
  }

  /**
   * `requests_key,tokens_key,requests_limit,tokens_limit` of a rate check (keys as indices in
   * KEYS): what the admits of one operation share. The time to live follows (`counterTtl`).
   */
  #rateFields(batch: Batch, subject: string, limits: RateLimits, now: number): string {
    const keys = this.#rateKeysOf(subject, rateWindow(now).start);
    return `${this.#keyIndex(batch, keys.requests)},${this.#keyIndex(batch, keys.tokens)},${limits.requestsPerMinute ?? -1},${limits.tokensPerMinute ?? -1}`;
  }

  /** Reads a hold's reply, found at `offset` in `reply`. */
  #holdReply(reply: string[], offset: number, scopes: readonly ScopeLimit[], amount: bigint, id: string, hold: Held): ReserveResult {
    if (reply[offset] === '1') return { ok: true, reservation: new HeldReservation(id, formatUnits(amount), [...scopes], hold) };
    const scope = scopes[Number(reply[offset + 1]) - 1] as ScopeLimit;
    return {
      ok: false,
      reason: 'limit_exceeded',
      exceeded: headroomOf(scope.scopeKey, this.#scopes.get(scope).limit, BigInt(reply[offset + 2] ?? '0'), BigInt(reply[offset + 3] ?? '0')),
    };
  }

  /**
   * Refused (`fail: closed`) or let through unenforced (`open`). An unenforced reservation
   * releases nothing when settled: if the call did run after all (a timeout), whether this hold
   * was taken is unknown, and its group may hold other requests' holds; a hold taken then expires.
   */
  #holdUnreachable(error: unknown, scopes: readonly ScopeLimit[], amount: bigint, id: string): ReserveResult {
    return this.#fail === 'open' ? held(id, amount, scopes, false) : { ok: false, reason: 'state_unavailable', message: `budget state unreachable: ${(error as Error).message}` };
  }

  #rateReply(reply: string[], limits: RateLimits, now: number): RateResult {
    const windowEnd = rateWindow(now).end;
    if (reply[0] === '1') return allowedWithWindows(limits, Number(reply[2]), Number(reply[3]), windowEnd);
    const windows = describeWindows(limits, Number(reply[2]), Number(reply[3]), windowEnd);
    return {
      ok: false,
      reason: 'rate_limited',
      limited: reply[1] === 'tokens' ? 'tokens' : 'requests',
      retryAfterSeconds: Math.max(1, Math.ceil((windowEnd - now) / 1000)),
      ...windows,
    };
  }

  #rateUnreachable(error: unknown): RateResult {
    return this.#fail === 'open' ? { ok: true } : { ok: false, reason: 'state_unavailable', message: `rate-limit state unreachable: ${(error as Error).message}` };
  }

  /** The scope's index in the batch's scope list, describing it there on first use. */
  #scopeIndex(batch: Batch, scope: ScopeLimit): number {
    const entry = this.#scopes.get(scope);
    const described = batch.scopeIndex.get(scope.scopeKey);
    if (described !== undefined && described.entry === entry) return described.index;
    const keyIndex = batch.keys.push(entry.key);
    const index = batch.scopeArguments.push(`[${keyIndex},${entry.limitFields},${this.#keepTtl(scope)}${entry.thresholdFields}]`);
    batch.scopeIndex.set(scope.scopeKey, { index, entry });
    return index;
  }

  #scopeEntry(scope: ScopeLimit): ScopeEntry {
    const terms = termsOf(scope);
    let thresholdFields = '';
    // Alert labels are fractions as text ("0.5"): nothing in them needs escaping in JSON.
    for (const threshold of terms.thresholds) thresholdFields += `,"alert:${threshold.fraction}",${pairFields(threshold.units)}`;
    return { key: this.#keyOf(scope.scopeKey), limit: terms.limit, limitFields: pairFields(terms.limit), thresholdFields };
  }

  #keyIndex(batch: Batch, key: string): number {
    let index = batch.keyIndex.get(key);
    if (index === undefined) {
      index = batch.keys.push(key);
      batch.keyIndex.set(key, index);
    }
    return index;
  }

  async #read(scopeKeys: readonly string[]): Promise<Array<{ spent: bigint; reserved: bigint }>> {
    if (scopeKeys.length === 0) return [];
    const keys = scopeKeys.map((scopeKey) => this.#keyOf(scopeKey));
    const reply = (await this.#run('read', keys, [String(this.#clock())])) as Array<[string, string, string, string]>;
    return reply.map(([spentMicro, spentRemainder, reservedMicro, reservedRemainder]) => ({
      spent: fromPair(spentMicro, spentRemainder),
      reserved: fromPair(reservedMicro, reservedRemainder),
    }));
  }

  #run(name: ScriptName, keys: string[], argumentsList: string[]): Promise<unknown> {
    return this.#command(name).call(this.redis, keys.length, ...keys, ...argumentsList);
  }

  #command(name: ScriptName): (...values: unknown[]) => Promise<unknown> {
    const command = (this.redis as unknown as Record<string, (...values: unknown[]) => Promise<unknown>>)[`switchyard_${name}`];
    if (!command) throw new Error(`script ${name} is not defined`);
    return command;
  }

  #keyOf(scopeKey: string): string {
    return `${this.#prefix}scope:${scopeKey}`;
  }

  #rateKeysOf(subject: string, windowStart: number): RateKeys {
    let keys = this.#rateKeys.get(subject);
    if (keys === undefined || keys.windowStart !== windowStart) {
      const base = `${this.#prefix}rate:${subject}:${windowStart}`;
      keys = { windowStart, requests: `${base}:requests`, tokens: `${base}:tokens` };
      if (this.#rateKeys.size >= KEY_CACHE_SIZE) this.#rateKeys.clear();
      this.#rateKeys.set(subject, keys);
    }
    return keys;
  }

  /**
   * Time to live of a scope's keys, relative to the injected clock (not Redis's own), so a replica
   * whose clock is the authority and a test clock agree; 0 keeps the keys.
   */
  #keepTtl(scope: ScopeLimit): number {
    return scope.periodEndsAt === undefined ? 0 : Math.max(1, scope.periodEndsAt + PERIOD_GRACE_MS - this.#clock());
  }
}

/**
 * A reservation whose hold this state took: the plain data of `Reservation`, and where the hold
 * is, out of sight (not enumerable, not serialized). A copy made elsewhere releases nothing when
 * settled (its hold then expires), and neither does a second settlement.
 */
class HeldReservation implements Reservation {
  readonly enforced = true;
  #hold: Held | undefined;

  constructor(
    readonly id: string,
    readonly amount: string,
    readonly scopes: ScopeLimit[],
    hold: Held,
  ) {
    this.#hold = hold;
  }

  /** The hold, once: undefined after the first call. */
  take(): Held | undefined {
    const hold = this.#hold;
    this.#hold = undefined;
    return hold;
  }
}

function held(id: string, amount: bigint, scopes: readonly ScopeLimit[], enforced: boolean): ReserveResult {
  return { ok: true, reservation: { id, amount: formatUnits(amount), scopes: [...scopes], enforced } };
}

/** Time to live of the rate counters of `now`'s window, ms: until a second after it ends. */
function counterTtl(now: number): number {
  return rateWindow(now).end + 1000 - now;
}

function checkTokens(tokens: number): void {
  if (!Number.isSafeInteger(tokens) || tokens < 0) throw new RangeError(`tokens must be a whole number, got ${tokens}`);
}
