#!/bin/sh
# The kitchen site's Python mirror (fileshare:mirrors:python), inside the container: the wheels of the
# Salt extensions the suite installs (parameters/defaults.yaml salt_extensions), served on loopback the
# way a site's mirror serves them (an HTML index pip --find-links reads). kitchen.yml runs this as
# pre_salt_command, after the checkout is copied to ROOT and before salt-call.
set -eu
ROOT=${1:-/tmp/kitchen/srv/salt}
SALT_PYTHON=${SALT_PYTHON:-/opt/salt/bin/python3}
MIRROR=${MIRROR:-/srv/fileshare-mirror}
PORT=${PORT:-3143}

mkdir -p "$MIRROR/wheels"
"$SALT_PYTHON" - "$ROOT/formulas/fileshare/parameters/defaults.yaml" > "$MIRROR/requirements.txt" <<'PY'
import sys
import yaml
print("\n".join(yaml.safe_load(open(sys.argv[1]))["salt_extensions"]))
PY
# Exactly the pinned distributions, as the site mirror holds them; their own dependencies come with Salt.
"$SALT_PYTHON" -m pip download --quiet --no-deps --dest "$MIRROR/wheels" -r "$MIRROR/requirements.txt"

if ! curl -fsS "http://127.0.0.1:$PORT/wheels/" > /dev/null 2>&1; then
    setsid "$SALT_PYTHON" -m http.server "$PORT" --bind 127.0.0.1 --directory "$MIRROR" \
        > "$MIRROR/http.log" 2>&1 < /dev/null &
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        curl -fsS "http://127.0.0.1:$PORT/wheels/" > /dev/null 2>&1 && exit 0
        sleep 1
    done
    echo "the wheel mirror did not come up on 127.0.0.1:$PORT" >&2
    exit 1
fi
