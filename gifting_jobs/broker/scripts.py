"""The Lua scripts of the broker: each one Redis round trip, atomic.

The held prefix (`keys.HELD_PREFIX`) and the notify cap (`NOTIFY_CAP`) are put
into the scripts' text once at import, so no send packs them as arguments.
"""

from gifting_jobs.broker.keys import HELD_PREFIX

#: At most this many wake-up tokens wait on a notify list: a consumer that blocks pops one at once,
#: so tokens only pile up while every consumer is busy, and each stale one costs one empty fetch.
NOTIFY_CAP = 1

# Push a wake-up token for the consumers of a queue, unless enough tokens wait already
# (tokens are popped as soon as a consumer blocks, so the list stays tiny). KEYS[n]: the
# queue's notify list, or "" for a delay queue (its consumers poll).
NOTIFY = f"""
local function notify(key)
  if key ~= '' and redis.call('llen', key) < {NOTIFY_CAP} then
    redis.call('rpush', key, '1')
  end
end
"""

# KEYS: lock, queue list, queue messages hash, notify list (see NOTIFY).
# ARGV: owner, ttl_ms, redis message id, data, mode.
# mode "send": take a free lock and push. "hold": take a free lock as "held:<owner>",
# push nothing (the job waits in Postgres). "relay": push if the lock is free or held
# for this owner; if the owner already sent it, or another job owns it, push nothing.
# Returns nil when pushed (or held), else the current owner of the lock.
SEND_UNIQUE = (
    NOTIFY
    + f"""
local HELD_PREFIX = '{HELD_PREFIX}'
local mode = ARGV[5]
if mode == 'send' then
  if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return redis.call('get', KEYS[1])
  end
else
  local current = redis.call('get', KEYS[1])
  if current and not (mode == 'relay' and current == HELD_PREFIX .. ARGV[1]) then
    return current
  end
  if mode == 'hold' then
    redis.call('set', KEYS[1], HELD_PREFIX .. ARGV[1], 'PX', ARGV[2])
    return false
  end
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('hset', KEYS[3], ARGV[3], ARGV[4])
redis.call('rpush', KEYS[2], ARGV[3])
notify(KEYS[4])
return false
"""
)

# Dramatiq's `enqueue` (store the message, push its id) plus a wake-up, in one call:
# retries and delayed messages coming due go through it. KEYS: queue list, queue
# messages hash, notify list. ARGV: redis message id, data.
ENQUEUE = (
    NOTIFY
    + """
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
redis.call('rpush', KEYS[1], ARGV[1])
notify(KEYS[3])
"""
)

# Wake the consumers of a queue (messages handed back by a stopping worker).
# KEYS: notify list.
WAKE = (
    NOTIFY
    + """
notify(KEYS[1])
"""
)

COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  return 1
end
return 0
"""

# Count a processed message in its minute's and hour's buckets, and in the
# totals and the duration histogram (see `keys` and `stats`). `counters` is a
# comma-separated list ("processed,failed,retried"), "" when nothing is
# counted; `label` is "<queue>|<actor>", `bound` the histogram bucket of the
# duration ("" for none), `duration_us` an integer.
# A success costs four HINCRBYs inside a script the ack runs anyway: a bucket
# gets its expiry only with a new field (the first HINCRBY that answers 1), and
# the processed total is the histogram's count, not a field of its own.
COUNT_OUTCOME = """
local function count_outcome(minute, hour, totals, counters, label, minute_until, hour_until, bound, duration_us)
  if counters == '' then return end
  for counter in string.gmatch(counters, '[^,]+') do
    local field = counter .. '|' .. label
    if redis.call('hincrby', minute, field, 1) == 1 then redis.call('expireat', minute, minute_until) end
    if redis.call('hincrby', hour, field, 1) == 1 then redis.call('expireat', hour, hour_until) end
    if counter ~= 'processed' then redis.call('hincrby', totals, field, 1) end
  end
  if bound ~= '' then
    redis.call('hincrby', totals, 'le|' .. label .. '|' .. bound, 1)
    redis.call('hincrby', totals, 'sum|' .. label, duration_us)
  end
end
"""

# Dramatiq's `ack` (heartbeat, unack, drop the message: the keys of its
# dispatch.lua), plus dropping the message's delivery counters, when the job
# is over freeing its id, and counting the outcome (COUNT_OUTCOME), for every
# message of a batch (`group_commit`: the acks of a worker's threads that came
# in while its previous ack call was in flight) in one call. An outcome is
# counted only when the message left the ack set now, so an ack Dramatiq
# retries (its reply lost) never counts twice.
# KEYS: heartbeats, minute bucket, hour bucket, totals.
# ARGV: timestamp, worker id, minute expiry, hour expiry (unix s), then the key
# prefixes: queue, this worker's acks, lock, deliveries, starts, and the
# messages hash suffix; then per message 8 values: physical queue,
# redis message id, job id ("" when the job goes on), owner, counters ("":
# nothing counted), label, bound, duration_us.
ACK_BATCH = (
    COUNT_OUTCOME
    + """
redis.call('zadd', KEYS[1], ARGV[1], ARGV[2])
for i = 11, #ARGV, 8 do
  local queue, rid, job_id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('srem', ARGV[6] .. queue, rid) > 0 then
    redis.call('hdel', ARGV[5] .. queue .. ARGV[10], rid)
    count_outcome(KEYS[2], KEYS[3], KEYS[4], ARGV[i + 4], ARGV[i + 5], ARGV[3], ARGV[4], ARGV[i + 6], ARGV[i + 7])
  end
  redis.call('del', ARGV[8] .. rid, ARGV[9] .. rid)
  if job_id ~= '' then
    local lock = ARGV[7] .. job_id
    if redis.call('get', lock) == ARGV[i + 3] then redis.call('del', lock) end
  end
end
"""
)

# After Dramatiq's `nack` (the message went to its dead-letter set): drop the
# message's delivery counters, free the job id if this message still holds it,
# and count the dead letter (COUNT_OUTCOME), in one call. Counted only when the
# delivery counter was still there, so a retried nack never counts twice.
# KEYS: deliveries counter, starts counter, lock (or ""), minute bucket, hour
# bucket, totals. ARGV: owner, then COUNT_OUTCOME's arguments.
NACK_CLEANUP = (
    COUNT_OUTCOME
    + """
if redis.call('del', KEYS[1], KEYS[2]) > 0 then
  count_outcome(KEYS[4], KEYS[5], KEYS[6], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
end
if KEYS[3] ~= '' and redis.call('get', KEYS[3]) == ARGV[1] then
  redis.call('del', KEYS[3])
end
"""
)

# Dramatiq's `fetch` (heartbeat, pop up to `prefetch` ids, add them to this
# worker's ack set, read their data: as its dispatch.lua, less the maintenance
# that a fetch runs by chance, for which the broker calls Dramatiq's script),
# plus one more delivery counted per message, in one call.
# KEYS: heartbeats, queue, this worker's acks set of the queue, messages hash.
# ARGV: timestamp, worker id, prefetch, deliveries key prefix, ttl_ms, "1" to
# count deliveries ("0": a delay queue, whose messages are counted when due).
# Returns {ids, data (nil where gone), counts}.
FETCH = """
redis.call('zadd', KEYS[1], ARGV[1], ARGV[2])
local ids = {}
for i = 1, tonumber(ARGV[3]) do
  local id = redis.call('lpop', KEYS[2])
  if not id then break end
  ids[i] = id
  redis.call('sadd', KEYS[3], id)
end
if #ids == 0 then return {{}, {}, {}} end
local counts = {}
if ARGV[6] == '1' then
  for i, id in ipairs(ids) do
    local key = ARGV[4] .. id
    counts[i] = redis.call('incr', key)
    redis.call('pexpire', key, ARGV[5])
  end
end
return {ids, redis.call('hmget', KEYS[4], unpack(ids)), counts}
"""

# Count one more fetch of each message. KEYS: delivery counters. ARGV: ttl_ms.
COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('incr', key)
  redis.call('pexpire', key, ARGV[1])
end
return counts
"""

# Take a mark (a lock with an owner and a TTL) if it is free. KEYS: mark.
# ARGV: owner, ttl_ms. Returns nil when taken now, else the current owner.
TAKE_MARK = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
return redis.call('get', KEYS[1])
"""

# Provider rate limits (keys: `KeyLayout.rate_limit`). Every script reads the
# clock of Redis (TIME), so workers on machines with skewed clocks share one
# timeline. Times are milliseconds with a fractional part; a window member is
# `<lease id>:<tokens>`, scored by its admission time.

# Acquire one call, in one round trip: cooldown, concurrency, request spacing
# and the token window are checked together; a call whose turn comes within
# max_wait is admitted *at its turn* (the caller sleeps until then), a later
# one is refused with the time until its turn.
# KEYS: cooldown, next slot, calls, window state, leases, snoozed, slowdown.
# ARGV: lease id, tokens, spacing_ms (0: requests unlimited), tokens per window
# (0: unlimited), window_ms, max concurrent (0: unlimited), lease_ttl_ms,
# max_wait_ms, retention_ms, concurrency_retry_ms.
# Returns {1, wait_ms, reason, snoozed} when admitted, {0, retry_in_ms, reason,
# snoozed} when refused, {-1, 0, 'too_big', 0} when the call alone exceeds the token window.
ACQUIRE = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tokens = tonumber(ARGV[2])
local spacing = tonumber(ARGV[3])
local token_limit = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local max_concurrent = tonumber(ARGV[6])
local max_wait = tonumber(ARGV[8])
-- After a 429 the provider's pace is slowed a little for a while (see COOL_DOWN).
local slowdown = tonumber(redis.call('get', KEYS[7]) or '1')
spacing = spacing * slowdown
token_limit = math.floor(token_limit / slowdown)
local snoozed = redis.call('zcount', KEYS[6], '(' .. now, '+inf')
local cooldown = tonumber(redis.call('get', KEYS[1]) or '0')
if cooldown > now then
  return {0, string.format('%.3f', cooldown - now), 'cooldown', snoozed}
end
if token_limit > 0 and tokens > token_limit then
  return {-1, '0', 'too_big', 0}
end
if max_concurrent > 0 then
  redis.call('zremrangebyscore', KEYS[5], '-inf', now)
  if redis.call('zcard', KEYS[5]) >= max_concurrent then
    return {0, ARGV[10], 'concurrency', snoozed}
  end
end
local state = redis.call('hmget', KEYS[4], 'sum', 'cursor')
local sum = tonumber(state[1] or '0')
local cursor = tonumber(state[2] or '0')
local edge = now - window
if edge > cursor then
  for _, member in ipairs(redis.call('zrangebyscore', KEYS[3], '(' .. cursor, edge)) do
    sum = sum - tonumber(string.match(member, ':(%d+)$'))
  end
  cursor = edge
end
redis.call('zremrangebyscore', KEYS[3], '-inf', now - tonumber(ARGV[9]))
local at = now
local reason = 'requests'
if spacing > 0 then
  local slot = tonumber(redis.call('get', KEYS[2]) or '0')
  if slot > at then at = slot end
end
if token_limit > 0 and sum + tokens > token_limit then
  -- `sum` counts every call admitted after the window's start, later
  -- reservations included: walk the oldest until enough tokens have left.
  local need = sum + tokens - token_limit
  local offset = 0
  while need > 0 do
    local batch = redis.call('zrangebyscore', KEYS[3], '(' .. cursor, '+inf', 'WITHSCORES', 'LIMIT', offset, 100)
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      need = need - tonumber(string.match(batch[i], ':(%d+)$'))
      if need <= 0 then
        local leaves = tonumber(batch[i + 1]) + window
        if leaves > at then
          at = leaves
          reason = 'tokens'
        end
        break
      end
    end
    offset = offset + 100
  end
end
local wait = at - now
if wait > max_wait then
  return {0, string.format('%.3f', wait), reason, snoozed}
end
local keep = math.ceil(wait + tonumber(ARGV[9])) + 1000
redis.call('zadd', KEYS[3], at, ARGV[1] .. ':' .. ARGV[2])
redis.call('hset', KEYS[4], 'sum', sum + tokens, 'cursor', string.format('%.3f', cursor))
redis.call('pexpire', KEYS[3], keep)
redis.call('pexpire', KEYS[4], keep)
if spacing > 0 then
  redis.call('set', KEYS[2], string.format('%.3f', at + spacing), 'PX', math.ceil(wait + spacing) + 1000)
end
if max_concurrent > 0 then
  local expires = at + tonumber(ARGV[7])
  redis.call('zadd', KEYS[5], expires, ARGV[1])
  redis.call('pexpire', KEYS[5], math.ceil(expires - now) + 1000)
end
return {1, string.format('%.3f', wait), reason, snoozed}
"""

# The call is over: free its concurrency slot and, when the answer's usage
# differs from the estimate, correct its tokens in the window.
# KEYS: calls, window state, leases. ARGV: lease id, estimated tokens, used tokens.
RELEASE = """
redis.call('zrem', KEYS[3], ARGV[1])
if ARGV[2] == ARGV[3] then return 0 end
local old = ARGV[1] .. ':' .. ARGV[2]
local score = redis.call('zscore', KEYS[1], old)
if not score then return 0 end
redis.call('zrem', KEYS[1], old)
redis.call('zadd', KEYS[1], score, ARGV[1] .. ':' .. ARGV[3])
local cursor = tonumber(redis.call('hget', KEYS[2], 'cursor') or '0')
if tonumber(score) > cursor then
  redis.call('hincrby', KEYS[2], 'sum', tonumber(ARGV[3]) - tonumber(ARGV[2]))
end
return 1
"""

# A provider said "wait" (Retry-After): nobody calls it before then. Never
# shortens a cooldown already running. A cooldown that starts (rather than
# extends one running: the other calls in flight answer 429 too) also slows the
# provider's pace by a step, up to a cap, for a while: the provider counts
# arrivals, the limiter admissions, and a limit set at the provider's exact
# quota would otherwise meet 429s again. KEYS: cooldown, slowdown.
# ARGV: cooldown ms, slowdown step, slowdown cap, slowdown ttl_ms.
# Returns the ms left of the cooldown now in force.
COOL_DOWN = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local ends = now + tonumber(ARGV[1])
local current = tonumber(redis.call('get', KEYS[1]) or '0')
if current <= now then
  local slowdown = tonumber(redis.call('get', KEYS[2]) or '1') * tonumber(ARGV[2])
  if slowdown > tonumber(ARGV[3]) then slowdown = tonumber(ARGV[3]) end
  redis.call('set', KEYS[2], string.format('%.4f', slowdown), 'PX', ARGV[4])
end
if ends > current then
  redis.call('set', KEYS[1], string.format('%.3f', ends), 'PX', math.ceil(tonumber(ARGV[1])) + 1)
  current = ends
end
return string.format('%.3f', current - now)
"""

# Snooze a running job: re-enqueue its message (same message id) with a delay,
# or hand its id lock to Postgres ("hold" mode: the relay sends it when due),
# keeping the id lock for it and extending it, and note the snooze per
# provider. Refused when another message owns the id by now (this copy is then
# a duplicate). KEYS: lock, delay queue, delay queue messages, snoozed.
# ARGV: owner (message id), lock ttl_ms, redis message id, data, mode
# ("delay" | "hold"), job id, delay_ms. Returns nil, or the owner that refused.
SNOOZE = f"""
local HELD_PREFIX = '{HELD_PREFIX}'
local current = redis.call('get', KEYS[1])
if current and current ~= ARGV[1] then
  return current
end
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
redis.call('zremrangebyscore', KEYS[4], '-inf', now)
redis.call('zadd', KEYS[4], now + tonumber(ARGV[7]), ARGV[6])
redis.call('pexpire', KEYS[4], math.ceil(tonumber(ARGV[7])) + 1000)
if ARGV[5] == 'hold' then
  redis.call('set', KEYS[1], HELD_PREFIX .. ARGV[1], 'PX', ARGV[2])
  return false
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('hset', KEYS[3], ARGV[3], ARGV[4])
redis.call('rpush', KEYS[2], ARGV[3])
return false
"""

# What a provider's limiter looks like now. KEYS: cooldown, calls, leases,
# snoozed, slowdown. ARGV: span_ms of "recent" calls. Returns {cooldown ms left, calls
# admitted in the span (turns reserved for the next moments included), calls
# in flight, snoozed jobs, slowdown factor}.
LIMIT_STATS = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local cooldown = tonumber(redis.call('get', KEYS[1]) or '0') - now
if cooldown < 0 then cooldown = 0 end
return {
  string.format('%.3f', cooldown),
  redis.call('zcount', KEYS[2], '(' .. (now - tonumber(ARGV[1])), '+inf'),
  redis.call('zcount', KEYS[3], '(' .. now, '+inf'),
  redis.call('zcount', KEYS[4], '(' .. now, '+inf'),
  redis.call('get', KEYS[5]) or '1',
}
"""

# Dramatiq's maintenance (dispatch.lua) for every queue at once, run on a timer
# by every worker instead of by chance inside a fetch. Beats this worker's own
# heartbeat first, so a live worker whose consumers are all busy is never taken
# for dead; then hands every dead worker's unacked messages back to their
# queues and forgets the worker once none of its ack sets is left.
# KEYS: heartbeats. ARGV: now_ms, heartbeat_timeout_ms, this worker id,
# ack-set prefix (`ns:__acks__.`), queue prefix (`ns:`), messages suffix, queue names...
# Returns how many messages were handed back.
REQUEUE_DEAD_WORKERS = """
local now, timeout, me = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local acks_prefix, queue_prefix, msgs_suffix = ARGV[4], ARGV[5], ARGV[6]
redis.call('zadd', KEYS[1], now, me)
local moved = 0
for _, worker in ipairs(redis.call('zrangebyscore', KEYS[1], 0, now - timeout)) do
  for i = 7, #ARGV do
    local queue = ARGV[i]
    local acks = acks_prefix .. worker .. '.' .. queue
    local messages = queue_prefix .. queue .. msgs_suffix
    for _, id in ipairs(redis.call('smembers', acks)) do
      if redis.call('hexists', messages, id) == 1 then
        redis.call('rpush', queue_prefix .. queue, id)
        moved = moved + 1
      end
    end
    redis.call('del', acks)
  end
  if next(redis.call('keys', acks_prefix .. worker .. '.*')) == nil then
    redis.call('zrem', KEYS[1], worker)
  end
end
return moved
"""

# Move a fetched message to another queue under a new Redis id, in place of
# acking it: a redelivered message goes to the quarantine lane. The old id
# leaves this worker's ack set and its queue, the new one joins the target.
# KEYS: this worker's ack set of the source queue, source messages hash,
# target queue list, target messages hash. ARGV: old id, new id, new data.
MOVE = """
redis.call('srem', KEYS[1], ARGV[1])
redis.call('hdel', KEYS[2], ARGV[1])
redis.call('hset', KEYS[4], ARGV[2], ARGV[3])
redis.call('rpush', KEYS[3], ARGV[2])
"""

# Delete a hash field only if it holds this value: a dead letter written to
# Postgres leaves Redis, unless a newer failure of the same job replaced it
# meanwhile. KEYS: hash. ARGV: field, value.
HASH_COMPARE_AND_DELETE = """
if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('hdel', KEYS[1], ARGV[1])
end
return 0
"""

# The message at the head of each ready queue (the next one a fetch takes), for
# queue latency; read atomically, so a message fetched meanwhile is never taken
# for ready. KEYS: pairs of (queue list, queue messages hash). Returns, per
# pair, the encoded message or nil when the queue is empty.
READY_HEADS = """
local heads = {}
for i = 1, #KEYS, 2 do
  local id = redis.call('lindex', KEYS[i], 0)
  heads[#heads + 1] = id and redis.call('hget', KEYS[i + 1], id) or false
end
return heads
"""
