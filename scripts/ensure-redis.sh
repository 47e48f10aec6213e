#!/usr/bin/env bash
# Make sure a redis-server answers at LINLI_REDIS_URL (default 127.0.0.1:6379): install it with
# apt if the binary is missing, start one under var/redis if nothing answers.
set -euo pipefail
url="${LINLI_REDIS_URL:-redis://127.0.0.1:6379/0}"
hostport="${url#redis://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=6379
bash "$(dirname "$0")/ensure-packages.sh" redis-server
if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
  echo "redis: answering at $host:$port"; exit 0
fi
case "$host" in 127.0.0.1|localhost) ;; *) echo "redis at $host:$port does not answer" >&2; exit 1;; esac
mkdir -p var/redis
redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/var/redis" --daemonize yes \
  --pidfile "$PWD/var/redis/redis.pid" --logfile "$PWD/var/redis/redis.log" --appendonly yes >/dev/null
for _ in $(seq 1 100); do
  redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && { echo "redis: started at $host:$port (var/redis)"; exit 0; }
  sleep 0.1
done
echo "redis did not start; see var/redis/redis.log" >&2; exit 1
