/*
 * The Lua scripts of RedisBackend (layout: see redis-keyspace.ts). A script
 * runs atomically on the server: no other client's command runs in between.
 * That is what makes a chunk of a batch all or nothing, and a conditional
 * write one step; it is also why a script is kept short (chunks): the server
 * serves nobody else while one runs.
 *
 * Every script checks the type of the index before its first write, so the
 * only error that could stop it half-way (a key of a foreign type) is ruled
 * out up front; SET and DEL replace an entry key of any type; and Redis
 * refuses a script for lack of memory only before its first write.
 *
 * Conditions: ARGV kind `-` none; `0` the condition key must hold nothing;
 * `1` it must hold exactly the expected bytes.
 */

/** Lua: fail unless KEYS[1] is the index (a sorted set) or absent; returns its type. */
const CHECK_INDEX = `
local indexType = redis.call('TYPE', KEYS[1])['ok']
if indexType ~= 'zset' and indexType ~= 'none' then
  return redis.error_reply('WRONGTYPE the memostrata index key holds foreign data')
end
`;

/**
 * One chunk of a batch, or the atomic step of a conditional one, on a single
 * server (every key reachable from one script), index included.
 *
 * KEYS[1] the index, KEYS[2] the format record's entry, KEYS[3] the
 * condition key's entry (the index again when there is none), KEYS[4…] the
 * entries of the operations, in order.
 * ARGV[1] the format record's key and ARGV[2] its bytes (empty when the
 * backend holds none), ARGV[3] the condition kind, ARGV[4] the expected
 * bytes, ARGV[5] the condition key, ARGV[6] the channel to publish it on
 * (when it writes anything); then per operation `p <key> <value>` or `d <key>`.
 *
 * When the index is absent (a server restarted without persistence lost
 * everything), the format record is written first, in the same step: a
 * process that was open across the restart never leaves keys behind without
 * the record that says whose they are. Returns 1 when applied, 0 when the
 * condition failed (then nothing was written). An applied conditional write
 * publishes its condition key.
 */
export const serverChunkScript = `${CHECK_INDEX}
if ARGV[3] ~= '-' then
  local stored = redis.call('GET', KEYS[3])
  if ARGV[3] == '0' then
    if stored then return 0 end
  elseif stored ~= ARGV[4] then
    return 0
  end
end
if ARGV[2] ~= '' and indexType == 'none' then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[1], 0, ARGV[1])
end
local k = 4
local i = 7
while i <= #ARGV do
  if ARGV[i] == 'p' then
    redis.call('SET', KEYS[k], ARGV[i + 2])
    redis.call('ZADD', KEYS[1], 0, ARGV[i + 1])
    i = i + 3
  else
    redis.call('DEL', KEYS[k])
    redis.call('ZREM', KEYS[1], ARGV[i + 1])
    i = i + 2
  end
  k = k + 1
end
if ARGV[3] ~= '-' and #ARGV >= 7 then redis.call('PUBLISH', ARGV[6], ARGV[5]) end
return 1
`;

/**
 * Operations whose entries share one slot, on a cluster (the index, in
 * another slot, is kept by the client around it: see redis-cluster-index.ts).
 *
 * KEYS[1] the condition key's entry (the first operation's when there is no
 * condition), KEYS[2…] the entries of the operations, in order.
 * ARGV[1] the condition kind, ARGV[2] the expected bytes, ARGV[3] the
 * channel, ARGV[4] the condition key; then per operation `p <value>` or `d`.
 * Returns 1 when applied, 0 when the condition failed (nothing written).
 */
export const slotScript = `
if ARGV[1] ~= '-' then
  local stored = redis.call('GET', KEYS[1])
  if ARGV[1] == '0' then
    if stored then return 0 end
  elseif stored ~= ARGV[2] then
    return 0
  end
end
local k = 2
local i = 5
while i <= #ARGV do
  if ARGV[i] == 'p' then
    redis.call('SET', KEYS[k], ARGV[i + 1])
    i = i + 2
  else
    redis.call('DEL', KEYS[k])
    i = i + 1
  end
  k = k + 1
end
if ARGV[1] ~= '-' and #ARGV >= 5 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
`;

/**
 * Adds (`a`) or removes (`r`) index members, on a cluster. KEYS[1] the index,
 * KEYS[2] the format record's entry (same slot); ARGV[1], ARGV[2] the format
 * record as in {@link serverChunkScript}, written first when the index is
 * absent; ARGV[3] `a` or `r`; ARGV[4…] the keys.
 */
export const indexScript = `${CHECK_INDEX}
if ARGV[2] ~= '' and indexType == 'none' then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[1], 0, ARGV[1])
end
local command = ARGV[3] == 'a' and 'ZADD' or 'ZREM'
for i = 4, #ARGV do
  if command == 'ZADD' then
    redis.call('ZADD', KEYS[1], 0, ARGV[i])
  else
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return 1
`;

/**
 * Claims an empty keyspace for a store, in one atomic step: when the index
 * is absent, writes the format record (KEYS[2], its key ARGV[1] and bytes
 * ARGV[2]) and indexes it. Returns the format record's bytes as they are
 * now, or nil when the store holds other keys but no format record.
 */
export const initializeFormatScript = `${CHECK_INDEX}
if indexType == 'none' then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[1], 0, ARGV[1])
end
return redis.call('GET', KEYS[2])
`;
