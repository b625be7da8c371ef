#!/bin/sh
# Run one of the stand-in's commands inside the app container: `docker compose
# exec` when the app runs, else a one-off `docker compose run`. Usage:
#   sh scripts/in-app.sh db:push | db:check | db:generate | seed | backup-db | writer [args]
set -eu
cd "$(dirname "$0")/.."
cmd=$1; shift
case "$cmd" in
  writer) set -- node dist/writer.js "$@" ;;
  *) set -- node dist/cli.js "$cmd" "$@" ;;
esac
if [ -n "$(docker compose ps -q --status running milos-shop 2>/dev/null)" ]; then
  exec docker compose exec -T milos-shop "$@"
fi
exec docker compose run --rm --no-deps -T milos-shop "$@"
