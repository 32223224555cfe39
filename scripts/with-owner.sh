#!/usr/bin/env bash
# Runs a command with the schema owner's DSN (POSTGRES_OWNER_DSN). Only `manage.py migrate` and the
# scheduler (partition maintenance) are started through this; web and worker processes never get the DSN.
# In dev and ci the DSN comes from var/owner.env (written by scripts/services.sh); in prod from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${APP_ENV:?APP_ENV is not set: set APP_ENV=dev, ci or prod}"
if [ -z "${POSTGRES_OWNER_DSN:-}" ] && [ "$APP_ENV" != prod ] && [ -f var/owner.env ]; then
  set -a
  # shellcheck disable=SC1091
  . var/owner.env
  set +a
fi
exec "$@"
