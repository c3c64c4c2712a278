package redis

import goredis "github.com/redis/go-redis/v9"

// Every script touches exactly the one key it is given, so it runs on any
// Cluster node. Times are microseconds since the epoch, passed as strings
// and compared as Lua numbers (exact below 2^53).

// indexAdd adds members scored by their expiry to a sorted-set index, drops
// the members that have expired, and sets the index to expire with its
// longest-lived member.
//
// KEYS[1] index; ARGV[1] now; then ARGV[2], ARGV[3], ... member, score
// pairs.
const indexAddSrc = `
for i = 2, #ARGV, 2 do
	redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #top == 0 then return 0 end
local last = tonumber(top[2])
if last >= 9007199254740992 then
	redis.call('PERSIST', KEYS[1])
else
	redis.call('PEXPIRE', KEYS[1], math.floor((last - tonumber(ARGV[1])) / 1000) + 1)
end
return 1
`

var indexAdd = goredis.NewScript(indexAddSrc)

// deactivate flips a token's active byte from '1' to '0' and drops its
// Data (everything after the header), keeping its TTL. It returns
// {1, value} when it flipped it, {0, value} when it was already inactive
// and {-1} when there is no such key; the caller judges expiry from value.
//
// KEYS[1] token.
const deactivateSrc = `
local v = redis.call('GET', KEYS[1])
if not v then return {-1} end
if string.sub(v, 1, 1) ~= '1' then return {0, v} end
local n = string.byte(v, 3) * 256 + string.byte(v, 4)
v = '0' .. string.sub(v, 2, 4 + n)
redis.call('SET', KEYS[1], v, 'KEEPTTL')
return {1, v}
`

var deactivate = goredis.NewScript(deactivateSrc)

// useOnce records a replay marker unless a live one is there.
//
// KEYS[1] marker; ARGV[1] its expiry; ARGV[2] now; ARGV[3] TTL in ms.
const useOnceSrc = `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
`

var useOnce = goredis.NewScript(useOnceSrc)

// hit counts one event in a fixed window.
//
// KEYS[1] counter; ARGV[1] now; ARGV[2] end of a new window; ARGV[3] window in ms.
const hitSrc = `
local v = redis.call('HMGET', KEYS[1], 'n', 'exp')
if v[1] and tonumber(v[2]) > tonumber(ARGV[1]) then
	return redis.call('HINCRBY', KEYS[1], 'n', 1)
end
redis.call('HSET', KEYS[1], 'n', 1, 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`

var hit = goredis.NewScript(hitSrc)

// fail counts one failure in a count that lapses a window after the
// latest failure.
//
// KEYS[1] counter; ARGV[1] now; ARGV[2] the count's new end; ARGV[3] window in ms.
const failSrc = `
local v = redis.call('HMGET', KEYS[1], 'n', 'exp')
local n = 1
if v[1] and tonumber(v[2]) > tonumber(ARGV[1]) then
	n = tonumber(v[1]) + 1
end
redis.call('HSET', KEYS[1], 'n', n, 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n
`

var fail = goredis.NewScript(failSrc)
