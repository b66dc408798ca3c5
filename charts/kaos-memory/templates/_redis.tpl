{{/*
The bundled Redis's two ACL users (docs/adr/0034-least-privilege.md):
  - default: the memory user. Its password is the Secret pods get (redisSecretName /
    redisSecretKey, INJECT_REDIS_PASSWORD_SECRET), so a client that sends a password
    alone (KAOS's Python RedisMemory, redis-cli -a) is this user. Memory keys only, no
    channels, and only the commands the session layout, the sidecar, its Lua scripts and
    the Python RedisMemory use.
  - kaos-admin: everything; its password is in a Secret of its own that only Redis (its
    `auth` container) mounts.
*/}}

{{- define "kaos-memory.redisAdminUser" -}}kaos-admin{{- end }}

{{/* dig: an upgrade with --reuse-values from a chart without redis.auth.admin still renders. */}}
{{- define "kaos-memory.redisAdminSecretName" -}}
{{- default (printf "%s-admin" (include "kaos-memory.redisName" .)) (dig "admin" "existingSecret" "" .Values.redis.auth) }}
{{- end }}

{{- define "kaos-memory.redisAdminSecretKey" -}}
{{- if dig "admin" "existingSecret" "" .Values.redis.auth }}
{{- dig "admin" "existingSecretKey" "admin-password" .Values.redis.auth }}
{{- else }}
{{- "admin-password" }}
{{- end }}
{{- end }}

{{/* The admin password: the one already stored (kept across upgrades), else a new random one. */}}
{{- define "kaos-memory.redisAdminPassword" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (printf "%s-admin" (include "kaos-memory.redisName" .)) }}
{{- if and $existing $existing.data (index $existing.data "admin-password") }}
{{- index $existing.data "admin-password" | b64dec }}
{{- else }}
{{- randAlphaNum 40 }}
{{- end }}
{{- end }}

{{/*
The memory user's rules after its passwords, one line. Keys: the sidecar's prefix and the
Redis-era kaos:memory one (KAOS's Python RedisMemory hard-codes it); never kaos:tenant:*,
which belongs to each isolated namespace's own user. Commands: an allow-list, then the
dangerous and admin categories and the ones an attacker used (issue 21) named again, so
the line says what is refused even where the allow-list already leaves it out. INFO is
dangerous by category but allowed last: ioredis's ready check asks it (and waits out a
restart's LOADING with it); it shows server statistics, never a key or a value.
*/}}
{{- define "kaos-memory.redisMemoryAcl" -}}
{{- $prefixes := uniq (list .Values.sidecar.keyPrefix "kaos:memory") -}}
resetkeys{{ range $prefixes }} ~{{ . }}:*{{ end }} resetchannels -@all
{{- /* connection */}} +ping +echo +select +hello +quit +client|setname +client|getname +client|id
{{- /* transactions, scripts, durability */}} +multi +exec +discard +watch +unwatch +eval +evalsha +eval_ro +evalsha_ro +script|load +script|exists +wait
{{- /* keys */}} +exists +type +ttl +pttl +expire +pexpire +persist +del +unlink
{{- /* hashes */}} +hset +hmset +hget +hmget +hgetall +hexists +hdel +hlen
{{- /* lists */}} +rpush +lpushx +lrange +lindex +llen +ltrim
{{- /* sorted sets */}} +zadd +zrem +zscore +zcard +zcount +zrange +zrangebyscore +zrevrange +zrevrangebyscore +zremrangebyscore +zscan
{{- /* refused */}} -@dangerous -@admin -monitor -replicaof -slaveof -config -acl -flushall -flushdb -keys -debug -shutdown -client|kill
{{- /* see above */}} +info
{{- end }}

{{- define "kaos-memory.redisAdminAcl" -}}~* &* +@all{{- end }}

{{/*
A shell function for both Redis containers' scripts: `hashes DIR KEY` prints " #<sha256>"
for the files KEY and KEY-* of a mounted Secret, sorted, so that the same passwords give
the same line. It reads one version of the Secret: the kubelet swaps `..data` to a new
folder and then removes the old one, so the files are read from the folder `..data`
names, and read again if it named another by the end. A read of two versions could give
Redis a key from one and the rest from the other, and drop a password still in use.
*/}}
{{- define "kaos-memory.redisHashesFunction" -}}
hashes() {
  while :; do
    version="$(readlink "$1/..data" 2>/dev/null)"
    from="$1${version:+/$version}"
    out="$(for f in "$from/$2" "$from/$2"-*; do
      [ -f "$f" ] && sha256sum < "$f" | cut -d ' ' -f 1
    done | sort | while read -r hash; do printf ' #%s' "$hash"; done)"
    [ "$(readlink "$1/..data" 2>/dev/null)" = "$version" ] && break
  done
  printf '%s' "$out"
}
{{- end }}
