#!/usr/bin/env bash
# The web process: runserver in dev, gunicorn (config/gunicorn.py) otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${APP_ENV:?APP_ENV is not set: set APP_ENV=dev, ci or prod}"
if [ "$APP_ENV" = "dev" ]; then
  exec python manage.py runserver "127.0.0.1:${PORT:-8000}" --noreload
fi
python manage.py collectstatic --noinput >/dev/null
exec gunicorn -c config/gunicorn.py config.wsgi
