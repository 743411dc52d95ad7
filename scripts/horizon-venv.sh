#!/usr/bin/env bash
# Create or reuse the cached venv holding the real Horizon (from PyPI) with gunicorn
# and whitenoise, for tests/acceptance/test_horizon.py and `onestack horizon --venv`.
# The list and the stamp file are the ones `onestack horizon` (src/host/horizon.rs)
# writes, so `onestack horizon --venv "$(scripts/horizon-venv.sh)"` runs no pip.
# Usage: scripts/horizon-venv.sh         -> prints the venv path on stdout
#        ONESTACK_HORIZON_VENV=/path scripts/horizon-venv.sh
set -euo pipefail

VENV="${ONESTACK_HORIZON_VENV:-$HOME/.cache/onestack/horizon-venv}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS=(horizon==27.0.0 heat-dashboard==16.0.0 gunicorn==27.0.1 whitenoise==6.12.0)
STAMP="$VENV/.onestack-horizon-requirements"
want="$(printf '%s\n' "${REQUIREMENTS[@]}")"

if [[ -x "$VENV/bin/gunicorn" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "$VENV"
    exit 0
fi
echo "horizon venv: installing ${REQUIREMENTS[*]} into $VENV" >&2
mkdir -p "$(dirname "$VENV")"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" >&2
printf '%s\n' "${REQUIREMENTS[@]}" >"$STAMP"
echo "$VENV"
