-- Deletes a session only while it belongs to this user: erasing a user's sessions
-- (privacy requests) never deletes a session that changed hands meanwhile.
--
-- @key session  hash: the session's five fields
-- @key events   list: its events
-- @key index    zset: the index it is listed in
-- @arg sid      the session id
-- @arg user     the user whose sessions are erased
-- @return deleted 0|1
if redis.call('HGET', K.session, 'user_id') ~= A.user then return {'deleted', 0} end
redis.call('DEL', K.session, K.events)
redis.call('ZREM', K.index, A.sid)
return {'deleted', 1}
