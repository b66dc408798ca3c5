"""The Redis-era KAOS memory layout, written and read the way KAOS's RedisMemory
does it (axsaucedo/kaos, data-plane/pai-server/pai_server/memory.py), with
Python's own json module and redis-py, for test/interop/python.test.ts.

This is test code of its own, not a copy of upstream's class: it issues the same
commands in the same order (HSET/EXPIRE/ZADD to create; EXISTS, then RPUSH, LTRIM,
HSET, ZADD, EXPIRE, EXPIRE to append; LRANGE and json.loads with first-id-wins to
read; ZRANGE and EXISTS, removing stale index entries, to list) and stores what
json.dumps(event.to_dict()) prints.

Usage: python3 kaos_redis.py < commands.json; prints their results as one JSON
array. Values that must reach the test exactly (big ints, 3.0, NaN) travel as JSON
text that Python reads and prints, never through JavaScript numbers.
"""

import json
import sys
import uuid
from datetime import datetime, timezone

import redis


class Layout:
    def __init__(self, url, prefix, ttl=3600, max_events=500):
        self.r = redis.Redis.from_url(url, decode_responses=True)
        self.prefix = prefix
        self.ttl = ttl
        self.max_events = max_events

    def session_key(self, sid):
        return f"{self.prefix}:session:{sid}"

    def events_key(self, sid):
        return f"{self.prefix}:events:{sid}"

    def index_key(self):
        return f"{self.prefix}:sessions"

    def create_session(self, sid, user_id="user", app_name="agent", ttl=None):
        now = datetime.now(timezone.utc)
        data = {
            "session_id": sid,
            "user_id": user_id,
            "app_name": app_name,
            "created_at": now.isoformat(),
            "updated_at": now.isoformat(),
        }
        pipe = self.r.pipeline()
        pipe.hset(self.session_key(sid), mapping=data)
        pipe.expire(self.session_key(sid), ttl or self.ttl)
        pipe.zadd(self.index_key(), {sid: now.timestamp()})
        pipe.execute()

    def event_json(self, event_type, content, metadata, event_id=None, timestamp=None):
        event = {
            "event_id": event_id or f"event_{uuid.uuid4().hex[:8]}",
            "timestamp": timestamp or datetime.now(timezone.utc).isoformat(),
            "event_type": event_type,
            "content": content,
            "metadata": metadata,
        }
        return json.dumps(event)

    def push(self, sid, event_json, ttl=None):
        if not self.r.exists(self.session_key(sid)):
            raise KeyError(f"session {sid} not found")
        now = datetime.now(timezone.utc)
        pipe = self.r.pipeline()
        pipe.rpush(self.events_key(sid), event_json)
        pipe.ltrim(self.events_key(sid), -self.max_events, -1)
        pipe.hset(self.session_key(sid), "updated_at", now.isoformat())
        pipe.zadd(self.index_key(), {sid: now.timestamp()})
        pipe.expire(self.session_key(sid), ttl or self.ttl)
        pipe.expire(self.events_key(sid), ttl or self.ttl)
        pipe.execute()

    def events(self, sid, types=None):
        out, seen = [], set()
        for item in self.r.lrange(self.events_key(sid), 0, -1):
            try:
                data = json.loads(item)
                eid = data.get("event_id", "")
                if eid and eid in seen:
                    continue
                if eid:
                    seen.add(eid)
                datetime.fromisoformat(data["timestamp"])
                if not types or data["event_type"] in types:
                    out.append(data)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        return out

    def list_sessions(self, user_id=None):
        live, stale = [], []
        for sid in self.r.zrange(self.index_key(), 0, -1):
            (live if self.r.exists(self.session_key(sid)) else stale).append(sid)
        if stale:
            pipe = self.r.pipeline()
            for sid in stale:
                pipe.zrem(self.index_key(), sid)
            pipe.execute()
        if not user_id:
            return live
        return [s for s in live if self.r.hget(self.session_key(s), "user_id") == user_id]

    def context(self, sid, max_events=20):
        events = self.events(sid, ["user_message", "agent_response"])[-max_events:]
        lines = []
        for e in events:
            who = "User" if e["event_type"] == "user_message" else "Assistant"
            lines.append(f"{who}: {e['content']}")
        return "\n".join(lines)


def dumps(value):
    """Python's own text for a value: json.dumps, which tells 3 from 3.0 and keeps NaN."""
    return json.dumps(value)


def run(layout, command, args):
    sid = args.get("session_id")
    if command == "write":
        # Creates the session (unless it exists) and appends each event; content and
        # metadata arrive as JSON text, read by Python's json (NaN, big ints, 3.0 kept).
        if not layout.r.exists(layout.session_key(sid)):
            layout.create_session(sid, args.get("user_id", "user"), ttl=args.get("ttl"))
        ids = []
        for e in args["events"]:
            text = layout.event_json(
                e["event_type"],
                json.loads(e["content"]),
                json.loads(e.get("metadata") or "{}"),
                e.get("event_id"),
            )
            for _ in range(e.get("times", 1)):
                layout.push(sid, text, ttl=args.get("ttl"))
            ids.append(json.loads(text)["event_id"])
        return {"ids": ids}
    if command == "read":
        # What Python's reader returns, each value as Python's json.dumps text.
        return [
            {
                "event_id": e["event_id"],
                "event_type": e["event_type"],
                "content": dumps(e["content"]),
                "metadata": dumps(e["metadata"]),
            }
            for e in layout.events(sid)
        ]
    if command == "session":
        data = layout.r.hgetall(layout.session_key(sid))
        for field in ("created_at", "updated_at"):
            datetime.fromisoformat(data[field])
        return {"session": data, "events": len(layout.events(sid))}
    if command == "expect":
        # A sidecar-stored entry: Python's re-encoding of it (equal when byte for byte
        # what json.dumps prints), and what Python itself stores for the same event
        # given as JSON text, with the sidecar's id and timestamp.
        data = json.loads(args["entry"])
        own = layout.event_json(
            data["event_type"],
            json.loads(args["content"]),
            json.loads(args.get("metadata") or "{}"),
            data["event_id"],
            data["timestamp"],
        )
        return {"redumped": json.dumps(data), "own": own}
    if command == "loads":
        # Python reading a sidecar answer (or any JSON text): the `field` of each item of
        # the array at `path`, as json.dumps text; NaN refused, as a strict client would.
        def strict(token):
            raise ValueError(f"not JSON: {token}")

        items = json.loads(args["text"], parse_constant=strict)
        for key in args["path"]:
            items = items[key]
        return [dumps(item[args["field"]]) for item in items]
    if command == "list":
        return layout.list_sessions(args.get("user_id"))
    if command == "context":
        return layout.context(sid, args.get("max_events", 20))
    raise SystemExit(f"unknown command {command}")


def main():
    # stdin: {"url", "prefix", "commands": [{"command": …, …args}]}; prints their results.
    request = json.loads(sys.stdin.read())
    layout = Layout(request["url"], request["prefix"])
    print(json.dumps([run(layout, c["command"], c) for c in request["commands"]]))


if __name__ == "__main__":
    main()
