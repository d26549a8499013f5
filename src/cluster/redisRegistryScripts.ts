/**
 * The Lua scripts of {@link RedisRegistry}. Each change to a backend runs as one script so it
 * is atomic across proxies, and publishes its event from inside the script: Redis runs scripts
 * one at a time, so every subscriber sees health changes in the order they happened.
 *
 * Layout: hash `<prefix>backend:<id>` (fields below, all strings), set `<prefix>backends` (ids),
 * channel `<prefix>registry` (events, JSON `{ t, o, p, r }`: type, origin instance, previous
 * health or '', the record as a flat field/value list).
 */

/** KEYS: hash, set, channel. ARGV: origin, id, then field/value pairs. Replaces the record. */
export const REGISTER = `
local prev = redis.call('HGET', KEYS[1], 'health')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SADD', KEYS[2], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
redis.call('PUBLISH', KEYS[3], cjson.encode({ t = 'registered', o = ARGV[1], p = prev or '', r = all }))
return { prev or '', all }
`;

/** KEYS: hash, channel. ARGV: origin, then field/value pairs. Nil when the id is unknown. */
export const UPDATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local prev = redis.call('HGET', KEYS[1], 'health')
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
local all = redis.call('HGETALL', KEYS[1])
if redis.call('HGET', KEYS[1], 'health') ~= prev then
  redis.call('PUBLISH', KEYS[2], cjson.encode({ t = 'health', o = ARGV[1], p = prev, r = all }))
end
return { prev, all }
`;

/** KEYS: hash, set, channel. ARGV: origin, id. Nil when the id is unknown. */
export const REMOVE = `
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 then return false end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('PUBLISH', KEYS[3], cjson.encode({ t = 'removed', o = ARGV[1], p = '', r = all }))
return all
`;

/**
 * KEYS: hash, channel. ARGV: origin, now, staleAfterMs. Marks the backend 'down' when it was
 * not seen for staleAfterMs and is not down already; nil otherwise (so of several proxies
 * sweeping at once, exactly one marks it and publishes).
 */
export const SWEEP_ONE = `
local h = redis.call('HMGET', KEYS[1], 'health', 'lastSeen')
if not h[1] or h[1] == 'down' then return false end
if tonumber(ARGV[2]) - tonumber(h[2]) < tonumber(ARGV[3]) then return false end
redis.call('HSET', KEYS[1], 'health', 'down')
local all = redis.call('HGETALL', KEYS[1])
redis.call('PUBLISH', KEYS[2], cjson.encode({ t = 'health', o = ARGV[1], p = h[1], r = all }))
return { h[1], all }
`;
