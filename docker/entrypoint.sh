#!/bin/sh
# The image's entry command. Without arguments: apply the migrations, then serve (`idp serve`,
# the production server, on IDP_HOST:IDP_PORT). On PostgreSQL `idp db upgrade` holds an
# advisory lock, so replicas started at once take turns and one of them migrates.
# With arguments, run them instead: `docker compose run --rm idp idp user list`.
set -eu
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
idp db upgrade
exec idp serve
