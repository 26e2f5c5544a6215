-- Audit list: a key-event hook.
--
-- Appends one entry per change to keys matching `account:*` to the list `audit:log` of the
-- key's database, newest first, and keeps the last 1000 entries. An entry reads
-- "<unix ms> <event> <key>", e.g. "1732288000123 hset account:42". The entry is written in
-- the same atomic step as the change, so the log never misses a change that happened and
-- never records one that did not.
--
-- Enable it with, in respite.toml:
--   [scripting]
--   hooks = ["scripts/audit_log.lua"]
-- then:  LRANGE audit:log 0 9
-- Edit PATTERN and KEEP below to audit other keys or keep more entries.

local PATTERN = 'account:*'
local LOG = 'audit:log'
local KEEP = 1000

respite.on_key_event{
  name = 'audit_log',
  pattern = PATTERN,
  handler = function(event, key, db)
    local t = redis.call('TIME')
    local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('LPUSH', LOG, ms .. ' ' .. event .. ' ' .. key)
    redis.call('LTRIM', LOG, 0, KEEP - 1)
  end,
}
