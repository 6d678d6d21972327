/*
 * The Lua scripts of RedisBackend. A script runs atomically on the server: no
 * other client's command runs in between, which is what makes a batch all or
 * nothing and a page of an iteration one consistent read.
 *
 * KEYS[1] is the hash of values (field = key bytes), KEYS[2] the sorted set
 * of keys (every score 0, so ZRANGEBYLEX orders members by memcmp: unsigned
 * bytes, shorter prefix first).
 */

/**
 * Applies a batch. ARGV[1] and ARGV[2] are the key and bytes of the store's
 * format record (both empty when the backend was opened without one). ARGV[3]
 * is the batch's condition: `-` for none; `0` when the key ARGV[4] must hold
 * nothing, `1` when it must hold the bytes ARGV[5] (both empty without a
 * condition). The rest are the operations in order: `p <key> <value>` or
 * `d <key>`. Returns 1 when the batch applied, 0 when its condition failed
 * (then nothing was written).
 *
 * When the keyspace is empty (a server restarted without persistence lost
 * everything), the format record is written first, in the same atomic step:
 * a process that was open across the restart never leaves keys behind
 * without the record that says whose they are.
 *
 * Both keys are type-checked before the first write, so the only error that
 * can stop the script half-way (a key of a foreign type) is ruled out up
 * front; and Redis refuses a script for lack of memory only before its
 * first write. Either every operation is applied or none is.
 */
export const batchScript = `
local valuesType = redis.call('TYPE', KEYS[1])['ok']
local keysType = redis.call('TYPE', KEYS[2])['ok']
if (valuesType ~= 'hash' and valuesType ~= 'none') or (keysType ~= 'zset' and keysType ~= 'none') then
  return redis.error_reply('WRONGTYPE memostrata keys hold foreign data')
end
if ARGV[3] ~= '-' then
  local stored = redis.call('HGET', KEYS[1], ARGV[4])
  if ARGV[3] == '0' then
    if stored then return 0 end
  elseif stored ~= ARGV[5] then
    return 0
  end
end
if ARGV[1] ~= '' and valuesType == 'none' and keysType == 'none' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
local i = 6
while i <= #ARGV do
  if ARGV[i] == 'p' then
    redis.call('HSET', KEYS[1], ARGV[i + 1], ARGV[i + 2])
    redis.call('ZADD', KEYS[2], 0, ARGV[i + 1])
    i = i + 3
  else
    redis.call('HDEL', KEYS[1], ARGV[i + 1])
    redis.call('ZREM', KEYS[2], ARGV[i + 1])
    i = i + 2
  end
end
return 1
`;

/**
 * Claims an empty keyspace for a store, in one atomic step: when neither key
 * exists, writes the format record (ARGV[1] = its key, ARGV[2] = its bytes).
 * Returns the format record's bytes as they are now, or nil when the
 * keyspace holds other keys but no format record.
 */
export const initializeFormatScript = `
local valuesType = redis.call('TYPE', KEYS[1])['ok']
local keysType = redis.call('TYPE', KEYS[2])['ok']
if (valuesType ~= 'hash' and valuesType ~= 'none') or (keysType ~= 'zset' and keysType ~= 'none') then
  return redis.error_reply('WRONGTYPE memostrata keys hold foreign data')
end
if valuesType == 'none' and keysType == 'none' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
return redis.call('HGET', KEYS[1], ARGV[1])
`;

/**
 * Reads one page of a range: ARGV = min, max (ZRANGEBYLEX bounds), `'1'` for
 * reverse order, and the page size. Returns `[key, value, key, value, …]`;
 * keys and values come from one atomic read. (One HGET per key rather than
 * one HMGET: Lua's unpack() is limited to a few thousand values.)
 */
export const pageScript = `
local keys
if ARGV[3] == '1' then
  keys = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[2], ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
else
  keys = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
end
local page = {}
for i = 1, #keys do
  page[2 * i - 1] = keys[i]
  page[2 * i] = redis.call('HGET', KEYS[1], keys[i])
end
return page
`;
