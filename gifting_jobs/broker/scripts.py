"""The Lua scripts of the broker: each one Redis round trip, atomic.

The held prefix is `keys.HELD_PREFIX`, put into SEND_UNIQUE's text once at import.
"""

from gifting_jobs.broker.keys import HELD_PREFIX

# KEYS: lock, queue list, queue messages hash. ARGV: owner, ttl_ms, redis message id, data, mode.
# mode "send": take a free lock and push. "hold": take a free lock as "held:<owner>",
# push nothing (the job waits in Postgres). "relay": push if the lock is free or held
# for this owner; if the owner already sent it, or another job owns it, push nothing.
# Returns nil when pushed (or held), else the current owner of the lock.
SEND_UNIQUE = """
local HELD_PREFIX = '%s'
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
return false
""" % HELD_PREFIX

# Delete a key only if it holds this value: a job freeing its id (unless a
# later job owns it by now), a holder releasing its mark. KEYS: key. ARGV: value.
COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  return 1
end
return 0
"""

# Dramatiq's `ack` (heartbeat, unack, drop the message: the keys of its
# dispatch.lua), plus dropping the message's delivery counters and, when the job
# is over, freeing its id, in one call: an ack costs the round trip a bare ack costs.
# KEYS: heartbeats, this worker's acks set of the queue, queue messages hash,
# deliveries counter, starts counter, lock (or "" when the job goes on).
# ARGV: timestamp, worker id, redis message id, owner.
ACK = """
redis.call('zadd', KEYS[1], ARGV[1], ARGV[2])
if redis.call('srem', KEYS[2], ARGV[3]) > 0 then
  redis.call('hdel', KEYS[3], ARGV[3])
end
redis.call('del', KEYS[4], KEYS[5])
if KEYS[6] ~= '' and redis.call('get', KEYS[6]) == ARGV[4] then
  redis.call('del', KEYS[6])
end
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
