"""The Lua scripts of the broker: each one Redis round trip, atomic.

The held prefix is `keys.HELD_PREFIX`, put into SEND_UNIQUE's text once at import.
"""

from gifting_jobs.broker.keys import HELD_PREFIX

# Push a wake-up token for the consumers of a queue, unless enough tokens wait already
# (tokens are popped as soon as a consumer blocks, so the list stays tiny). KEYS[n]: the
# queue's notify list, or "" for a delay queue (its consumers poll). ARGV[m]: the cap.
NOTIFY = """
local function notify(key, cap)
  if key ~= '' and redis.call('llen', key) < tonumber(cap) then
    redis.call('rpush', key, '1')
  end
end
"""

# KEYS: lock, queue list, queue messages hash, notify list (see NOTIFY).
# ARGV: owner, ttl_ms, redis message id, data, mode, notify cap.
# mode "send": take a free lock and push. "hold": take a free lock as "held:<owner>",
# push nothing (the job waits in Postgres). "relay": push if the lock is free or held
# for this owner; if the owner already sent it, or another job owns it, push nothing.
# Returns nil when pushed (or held), else the current owner of the lock.
SEND_UNIQUE = NOTIFY + """
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
notify(KEYS[4], ARGV[6])
return false
""" % HELD_PREFIX

# Dramatiq's `enqueue` (store the message, push its id) plus a wake-up, in one call:
# retries and delayed messages coming due go through it. KEYS: queue list, queue
# messages hash, notify list. ARGV: redis message id, data, notify cap.
ENQUEUE = NOTIFY + """
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
redis.call('rpush', KEYS[1], ARGV[1])
notify(KEYS[3], ARGV[3])
"""

# Wake the consumers of a queue (messages handed back by a stopping worker).
# KEYS: notify list. ARGV: notify cap.
WAKE = NOTIFY + """
notify(KEYS[1], ARGV[1])
"""

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
