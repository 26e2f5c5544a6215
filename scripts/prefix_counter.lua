-- Per-prefix write counter: a key-event hook.
--
-- Counts the writes to keys of the form "prefix:rest" per prefix, in the hash
-- `stats:writes` of the key's database: after `SET user:1 x` and `HSET user:2 f v`,
-- `HGET stats:writes user` is 2. Every write event counts (set, del, hset, lpush, expired,
-- ...), so a command that changes several keys counts once per key. The hook's own write to
-- stats:writes triggers no hook, so it never counts itself.
--
-- Enable it with, in respite.toml:
--   [scripting]
--   hooks = ["scripts/prefix_counter.lua"]
-- then read the figures with:  HGETALL stats:writes

local STATS = 'stats:writes'

respite.on_key_event{
  name = 'prefix_counter',
  pattern = '*:*',
  handler = function(event, key, db)
    local prefix = string.match(key, '^([^:]+):')
    if prefix then
      redis.call('HINCRBY', STATS, prefix, 1)
    end
  end,
}
