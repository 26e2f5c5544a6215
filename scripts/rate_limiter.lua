-- Sliding-window rate limiter: a custom command.
--
--   RATELIMIT.SLIDING key limit window_ms
--
-- Allows at most `limit` calls per `window_ms` milliseconds for `key` (a user id, an IP, an
-- API token...), counting over the last window_ms at every call rather than in fixed buckets,
-- so a burst at the edge of two buckets cannot pass twice the limit. Each allowed call is one
-- member of the sorted set at `key`, scored with its time in microseconds; the key expires
-- when the window has passed with no call.
--
-- Reply: an array {allowed, remaining, retry_after_ms}
--   allowed         1 if this call is allowed (and counted), 0 if refused
--   remaining       calls still allowed in the current window
--   retry_after_ms  0 when allowed; otherwise how long until the oldest call leaves the window
--
-- Enable it with, in respite.toml:
--   [scripting]
--   commands = ["scripts/rate_limiter.lua"]
-- then from any client:  RATELIMIT.SLIDING api:user:42 100 60000

local function whole(arg, what)
  local n = tonumber(arg)
  if n == nil or n ~= math.floor(n) or n < 1 then
    return redis.error_reply('ERR ' .. what .. ' must be a positive integer')
  end
  return n
end

respite.register_command{
  name = 'ratelimit.sliding',
  arity = 4,
  flags = {'write', 'denyoom'},
  keys = {first = 1, last = 1, step = 1},
  summary = 'Allows at most limit calls per window_ms milliseconds for key (sliding window).',
  handler = function(keys, args)
    local key = keys[1]
    local limit = whole(args[1], 'limit')
    if type(limit) == 'table' then return limit end
    local window_ms = whole(args[2], 'window_ms')
    if type(window_ms) == 'table' then return window_ms end

    local t = redis.call('TIME')
    local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local window_us = window_ms * 1000
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now_us - window_us)
    local count = redis.call('ZCARD', key)
    if count < limit then
      -- The count makes the member unique even for two calls in the same microsecond.
      redis.call('ZADD', key, now_us, now_us .. ':' .. count)
      redis.call('PEXPIRE', key, window_ms)
      return {1, limit - count - 1, 0}
    end
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local retry_us = tonumber(oldest[2]) + window_us - now_us
    return {0, 0, math.max(1, math.ceil(retry_us / 1000))}
  end,
}
