#!/usr/bin/env bash
# Create or refresh the cached Python venv holding the real OpenStack clients
# (python-openstackclient, openstacksdk, osc-placement, swiftclient, heatclient, awscli,
# boto3), selenium for the dashboard's browser tests, and pytest, used by the acceptance tests.
# Idempotent: a stamp file records the requirement hash; re-runs are instant.
# Usage: scripts/venv.sh            -> prints the venv path on stdout
#        ONESTACK_VENV=/path scripts/venv.sh
set -euo pipefail

VENV="${ONESTACK_VENV:-$HOME/.cache/onestack/venv}"
PYTHON="${PYTHON:-python3}"

# Pinned client versions (what the acceptance suite is written against).
REQUIREMENTS="python-openstackclient==10.5.0
openstacksdk==4.22.0
osc-placement==4.9.1
pytest==9.2.0
pytest-timeout==2.4.0
pytest-xdist==3.8.0
python-swiftclient==4.11.0
python-heatclient==5.3.0
awscli==1.46.3
boto3==1.44.18
oauthlib==4.0.1
selenium==4.50.0
requests"

want_hash="$(printf '%s\n%s\n' "$REQUIREMENTS" "$("$PYTHON" -c 'import sys; print(sys.version)')" | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.onestack-requirements.sha256"

if [[ -x "$VENV/bin/openstack" && -x "$VENV/bin/pytest" && -f "$stamp" && "$(cat "$stamp")" == "$want_hash" ]]; then
    echo "$VENV"
    exit 0
fi

echo "venv: installing OpenStack clients into $VENV" >&2
mkdir -p "$(dirname "$VENV")"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV" >&2
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
req_file="$(mktemp)"
trap 'rm -f "$req_file"' EXIT
printf '%s\n' "$REQUIREMENTS" >"$req_file"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req_file" >&2
"$VENV/bin/openstack" --version >&2
printf '%s\n' "$want_hash" >"$stamp"
echo "$VENV"
