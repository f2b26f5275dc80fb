"""The Lua scripts of the Redis shared state: each runs atomically, in one round trip.

Lua, not MULTI/WATCH, because a claim must read and write in one step without retries:
Redis and Valkey run a script to completion before serving anyone else. Numbers cross the
boundary as strings the engine formatted, so Lua never rounds a timestamp (``cjson`` would
keep 14 digits). Key names (``ns`` is the prefix): ``n`` plan counter, ``gen`` invalidation
generation, ``inv`` invalidation log, ``lin:<lineage>`` fingerprint, ``linidx`` lineage ->
"provider<US>prefix key", ``res:<key>`` resource record, ``residx`` key -> expiry,
``kw:<key>`` keep-warm entry, ``kwdue`` key -> refresh time, ``lease:<key>:<lastWrite>``
touch lease, ``use:<key>`` usage aggregate, ``useidx`` aggregate keys, ``drifts`` reports,
``seq:<host>`` a host's last applied increment batch, ``linexp`` lineage -> expiry,
``cad:<lineage>`` per-lineage fields.

A stored number the scripts read goes through ``num`` (the ``NUM`` prelude of every
script): a value that is not a plain finite decimal reads as absent, so a garbage entry
is replaced by the next write instead of failing the script (and every later call) for
good; so is a key of another type than racs writes there (``typed`` deletes it).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Final


@functools.cache
def sha1(source: str) -> str:
    """The name Redis gives a script: EVALSHA works without loading when another host did."""
    return hashlib.sha1(source.encode()).hexdigest()


NUM: Final = r"""
local function num(v)
  if type(v) ~= 'string' or not string.find(v, '^[%d%.eE%+%-]+$') then return nil end
  local x = tonumber(v)
  if x == nil or x ~= x or math.abs(x) > 1e300 then return nil end
  return x
end
-- a key holding another type than racs writes there is unreadable too: absent
local function typed(key, t)
  local have = redis.call('TYPE', key)['ok']
  if have ~= 'none' and have ~= t then redis.call('DEL', key) end
end
"""

PLAN: Final = (
    NUM
    + r"""
-- KEYS: 1 n, 2 gen, 3 lin:<lineage>, 4 linidx, 5 res:<key>, 6 residx, 7 kw:<key>, 8 kwdue,
--       9 linexp
-- ARGV: 1 now, 2 lineage, 3 prefix key, 4 provider, 5 model, 6 fingerprint, 7 lineage ttl ms,
--       8 resource ttl s ('' = none), 9 resource tokens, 10 keep-warm ttl label ('' = none),
--       11 keep-warm ttl s, 12 create claim ms (0 = a create never lapses unnamed),
--       13 request id (a client's retry of this very request gets the same action back)
local now = tonumber(ARGV[1])
-- the counter and the generation are never deleted: they are repaired where written
for i, t in ipairs({'string', 'hash', 'hash', 'zset', 'hash', 'zset', 'zset'}) do
  typed(KEYS[i + 2], t)
end
local n = redis.pcall('INCR', KEYS[1])
if type(n) ~= 'number' then
  -- an unreadable counter restarts at the clock in ms, above any count it could have
  -- reached (plan ids never repeat as long as fewer plans than ms have passed)
  redis.call('SET', KEYS[1], string.format('%d', math.floor(now)))
  n = redis.call('INCR', KEYS[1])
end
local gen = math.floor(num(redis.pcall('GET', KEYS[2])) or 0)
local prev = redis.pcall('GET', KEYS[3])
if type(prev) ~= 'string' then prev = '' end
redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[7])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[4] .. '\31' .. ARGV[3])
redis.call('ZADD', KEYS[9], now + tonumber(ARGV[7]), ARGV[2])
-- a few index entries of expired lineages go per plan: the index stays as small as the set
for _, l in ipairs(redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', '(' .. ARGV[1], 'LIMIT', 0, 8)) do
  redis.call('HDEL', KEYS[4], l)
  redis.call('ZREM', KEYS[9], l)
end
local action = ''
local write = ARGV[1]
if ARGV[8] ~= '' then
  local rec = redis.call('HMGET', KEYS[5], 'w', 's', 'c', 'name', 'r', 'a')
  local w, s = num(rec[1]), num(rec[2])
  if s == nil or s <= 0 then w = nil end  -- an unreadable record is absent: recreated
  local claim = tonumber(ARGV[12])
  local lapsed = w ~= nil and claim > 0 and not rec[4] and now >= (num(rec[3]) or w) + claim
  local ttl = tonumber(ARGV[8])
  if rec[5] == ARGV[13] then
    action = rec[6]  -- the same request again (a client retry): the same answer
  elseif w == nil or now >= w + s * 1000 or lapsed then
    action = 'create'
    redis.call('DEL', KEYS[5])
    redis.call('HSET', KEYS[5], 'p', ARGV[4], 'm', ARGV[5], 's', ARGV[8], 'w', ARGV[1],
      'c', ARGV[1], 't', ARGV[9], 'r', ARGV[13], 'a', 'create')
  elseif now >= w + 0.9 * s * 1000 then
    action = 'refresh'
    redis.call('HSET', KEYS[5], 's', ARGV[8], 'w', ARGV[1], 't', ARGV[9], 'r', ARGV[13],
      'a', 'refresh')
  else
    action = 'reuse'
    write = rec[1]
    ttl = s
  end
  local expires = tonumber(write) + ttl * 1000
  redis.call('PEXPIRE', KEYS[5], math.max(1, math.floor(expires - now) + 1))
  redis.call('ZADD', KEYS[6], expires, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', '(' .. ARGV[1])
end
if ARGV[10] ~= '' then
  local s = tonumber(ARGV[11])
  local expires = tonumber(write) + s * 1000
  if expires > now then
    redis.call('HSET', KEYS[7], 'p', ARGV[4], 'm', ARGV[5], 't', ARGV[10], 's', ARGV[11],
      'w', write)
    redis.call('PEXPIRE', KEYS[7], math.floor(expires - now) + 1)
    redis.call('ZADD', KEYS[8], tonumber(write) + 0.9 * s * 1000, ARGV[3])
  end
  -- entries due more than a day ago are dead whatever their TTL: keep the index small
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', '(' .. (now - 86400000))
end
return {n, gen, prev, action, write}
"""
)

SCHEDULE: Final = (
    NUM
    + r"""
-- KEYS: 1 kwdue; ARGV: 1 now, 2 ns, 3 host id, 4 lease ms
-- Returns the due entries this host holds the touch lease for (won now or held already).
local now = tonumber(ARGV[1])
typed(KEYS[1], 'zset')
local out = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local key = ARGV[2] .. 'kw:' .. k
  local e = redis.pcall('HMGET', key, 'p', 'm', 't', 's', 'w')
  local w, s = num(e[5]), num(e[4])
  if not w or not s then  -- gone, or unreadable: absent
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], k)
  else
    if now >= w + s * 1000 then
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[1], k)
    elseif w + 0.9 * s * 1000 <= now then
      local lease = ARGV[2] .. 'lease:' .. k .. ':' .. e[5]
      local won = redis.call('SET', lease, ARGV[3], 'NX', 'PX', ARGV[4])
      if won or redis.pcall('GET', lease) == ARGV[3] then
        table.insert(out, {k, e[1], e[2], e[3], e[4], e[5]})
      end
    end
  end
end
return out
"""
)

SLIDE: Final = (
    NUM
    + r"""
-- KEYS: 1 kw:<key>, 2 kwdue, 3 res:<key>, 4 residx; ARGV: 1 at, 2 prefix key, 3 now
local at, now = tonumber(ARGV[1]), tonumber(ARGV[3])
for i, t in ipairs({'hash', 'zset', 'hash', 'zset'}) do typed(KEYS[i], t) end
local slid = 0
local s = num(redis.pcall('HGET', KEYS[1], 's'))
if s then
  redis.call('HSET', KEYS[1], 'w', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.floor(at + s * 1000 - now) + 1))
  redis.call('ZADD', KEYS[2], at + 0.9 * s * 1000, ARGV[2])
  slid = 1
end
local rs = num(redis.pcall('HGET', KEYS[3], 's'))
if rs then
  redis.call('HSET', KEYS[3], 'w', ARGV[1])
  redis.call('PEXPIRE', KEYS[3], math.max(1, math.floor(at + rs * 1000 - now) + 1))
  redis.call('ZADD', KEYS[4], at + rs * 1000, ARGV[2])
  slid = 1
end
return slid
"""
)

INVALIDATE: Final = (
    NUM
    + r"""
-- KEYS: 1 kwdue, 2 residx, 3 linidx, 4 gen, 5 inv; ARGV: 1 prefix key ('' any),
--       2 provider ('' any), 3 ns, 4 log length
local pk, prov, ns = ARGV[1], ARGV[2], ARGV[3]
for i, t in ipairs({'zset', 'zset', 'hash'}) do typed(KEYS[i], t) end
typed(KEYS[5], 'list')  -- the generation (KEYS[4]) is repaired below, after the log's head
local function hit(k, p) return (pk == '' or k == pk) and (prov == '' or p == prov) end
local matched, deleted = {}, {}
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local p = redis.pcall('HGET', ns .. 'kw:' .. k, 'p')
  if type(p) ~= 'string' then p = false end
  if not p or hit(k, p) then
    if p then matched[k] = true end
    redis.call('DEL', ns .. 'kw:' .. k)
    redis.call('ZREM', KEYS[1], k)
  end
end
for _, k in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local r = redis.pcall('HMGET', ns .. 'res:' .. k, 'p', 's')
  if not r[1] or hit(k, r[1]) then
    if r[1] then
      matched[k] = true
      table.insert(deleted, {k, r[2]})
    end
    redis.call('DEL', ns .. 'res:' .. k)
    redis.call('ZREM', KEYS[2], k)
  end
end
local lins = redis.call('HGETALL', KEYS[3])
for i = 1, #lins, 2 do
  local l, v = lins[i], lins[i + 1]
  local sep = string.find(v, '\31', 1, true)
  local p, k = '', ''
  if sep then p, k = string.sub(v, 1, sep - 1), string.sub(v, sep + 1) end
  local alive = sep ~= nil and redis.call('EXISTS', ns .. 'lin:' .. l) == 1
  if not alive or hit(k, p) then
    if alive then matched[k] = true end
    redis.call('DEL', ns .. 'lin:' .. l)
    redis.call('HDEL', KEYS[3], l)
    redis.call('ZREM', ns .. 'linexp', l)
  end
end
local gen = redis.pcall('INCR', KEYS[4])
local head = redis.call('LINDEX', KEYS[5], 0)
local last = math.floor(head and num(string.match(head, '^[^\31]*')) or 0)
if type(gen) ~= 'number' or gen <= last then
  -- an unreadable (or lost) generation restarts after the newest logged one: every host
  -- still sees it move past the last generation it applied
  gen = last + 1
  redis.call('SET', KEYS[4], string.format('%d', gen))
end
redis.call('LPUSH', KEYS[5], gen .. '\31' .. pk .. '\31' .. prov)
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[4]) - 1)
local keys = {}
for k in pairs(matched) do table.insert(keys, k) end
return {gen, keys, deleted}
"""
)

APPLY: Final = (
    NUM
    + r"""
-- Usage increments, applied at most once: a host numbers its batches and sends them in
-- order, so a batch at or below the host's high-water mark was applied already (a resend
-- after a lost reply is a no-op). KEYS: 1 seq:<host>, 2 useidx, 3 drifts; ARGV: 1 ns,
-- 2 batch number, 3 drift ring size, 4 number of reports R, 5..4+R reports, then
-- F = number of fields, F field names, then rows of (key, provider, model, agent id,
-- priced, unpriced models joined by US, F values).
if tonumber(ARGV[2]) <= (num(redis.pcall('GET', KEYS[1])) or 0) then return 0 end
typed(KEYS[1], 'string')
typed(KEYS[2], 'set')
typed(KEYS[3], 'list')
redis.call('SET', KEYS[1], ARGV[2], 'EX', 604800)
local ns = ARGV[1]
local r = tonumber(ARGV[4])
for i = 5, 4 + r do redis.call('LPUSH', KEYS[3], ARGV[i]) end
if r > 0 then redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1) end
local f = tonumber(ARGV[5 + r])
local first = 6 + r
local i = first + f
while i <= #ARGV do
  local k = ns .. 'use:' .. ARGV[i]
  typed(k, 'hash')
  redis.call('HSETNX', k, 'provider', ARGV[i + 1])
  redis.call('HSETNX', k, 'model', ARGV[i + 2])
  if ARGV[i + 3] ~= '' then redis.call('HSETNX', k, 'agentId', ARGV[i + 3]) end
  if ARGV[i + 4] == '1' then redis.call('HSET', k, 'priced', '1') end
  for m in string.gmatch(ARGV[i + 5], '[^\31]+') do redis.call('HSET', k, 'unpriced:' .. m, '1') end
  for j = 0, f - 1 do
    local v = ARGV[i + 6 + j]
    if v ~= '0' then
      local name = ARGV[first + j]
      local whole = name == 'calls' or name == 'hits'
      local old = redis.call('HGET', k, name)
      local x = num(old)
      if whole and x and (not string.find(old, '^%-?%d+$') or math.abs(x) >= 2^53) then
        x = nil
      end
      if old and not x then
        redis.call('HSET', k, name, '0')  -- unreadable: absent, this increment restarts it
      end
      if whole then
        redis.call('HINCRBY', k, name, v)
      else
        redis.call('HINCRBYFLOAT', k, name, v)
      end
    end
  end
  redis.call('SADD', KEYS[2], ARGV[i])
  i = i + 6 + f
end
return 1
"""
)

PUBLISH: Final = (
    NUM
    + r"""
-- A resource this host created while the fleet was away: publish it unless another host's
-- record is there already. KEYS: 1 res:<key>, 2 residx; ARGV: 1 now, 2 key, 3 provider,
-- 4 model, 5 ttl s, 6 last write, 7 tokens
typed(KEYS[1], 'hash')
typed(KEYS[2], 'zset')
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local expires = tonumber(ARGV[6]) + tonumber(ARGV[5]) * 1000
local left = math.floor(expires - tonumber(ARGV[1]))
if left <= 0 then return 0 end
redis.call('HSET', KEYS[1], 'p', ARGV[3], 'm', ARGV[4], 's', ARGV[5], 'w', ARGV[6],
  'c', ARGV[6], 't', ARGV[7])
redis.call('PEXPIRE', KEYS[1], left + 1)
redis.call('ZADD', KEYS[2], expires, ARGV[2])
return 1
"""
)
