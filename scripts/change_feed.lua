-- Change feed: a key-event hook that publishes every change.
--
-- After each command that changes keys, PUBLISHes one message per changed key to the channel
-- `changes`, reading "<db> <event> <key>" (e.g. "0 set product:7"), so caches, search indexes
-- or browsers (through a websocket relay) can follow the data without polling. Messages go
-- out in the order the changes happened, only for changes that were made (a failed command
-- or a refused transaction publishes nothing). Unlike keyspace notifications it needs no
-- notify-keyspace-events setting and gives the event and the key in one message.
--
-- Enable it with, in respite.toml:
--   [scripting]
--   hooks = ["scripts/change_feed.lua"]
-- then:  SUBSCRIBE changes
-- Edit EVENTS and PATTERN below to narrow the feed.

local CHANNEL = 'changes'
local PATTERN = '*'
local EVENTS = {'set', 'del', 'expired', 'hset', 'hdel', 'lpush', 'rpush', 'lpop', 'rpop',
                'sadd', 'srem', 'zadd', 'zrem', 'incrby', 'incrbyfloat', 'append',
                'rename_from', 'rename_to', 'expire', 'persist'}

respite.on_key_event{
  name = 'change_feed',
  events = EVENTS,
  pattern = PATTERN,
  handler = function(event, key, db)
    redis.call('PUBLISH', CHANNEL, db .. ' ' .. event .. ' ' .. key)
  end,
}
