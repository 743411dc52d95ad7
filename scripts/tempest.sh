#!/usr/bin/env bash
# Run tempest, OpenStack's own API test suite (PyPI tempest 47.0.0), against onestack.
#
# Usage: scripts/tempest.sh [SERVICE...] [OPTIONS] [-- EXTRA TEMPEST RUN ARGS]
#   SERVICE            identity | image | network | compute | volume | object_storage |
#                      orchestration (heat-tempest-plugin 3.0.0's API tests, in a venv of
#                      their own) | all (default: the services but orchestration) | smoke
#                      (several may be given; smoke = tempest's smoke tests of the six)
#   --concurrency N    tempest workers (default: $ONESTACK_TEMPEST_CONCURRENCY or 4)
#   --check            compare with tests/tempest/expected-failures.txt: exit 1 on a failure
#                      not listed and on a listed test that now passes (needs a full run of
#                      each selected service: no --regex in the extra args)
#   --update-expected  rewrite tests/tempest/expected-failures.txt from this run: entries that
#                      pass are dropped, existing reasons are kept, new failures are added with
#                      the reason "TODO: reason" for a person to write (--check warns on those)
#   --write-compat     rewrite the generated part of docs/COMPATIBILITY.md from the results
#   --from DIR         no run: --check/--update-expected/--write-compat on DIR's results
#   --out DIR          results directory (default target/tempest)
#   --dataplane MODE   host (default when root with ip/nft/dnsmasq): the throwaway cloud's
#                      dataplane runs inside a network namespace this script creates and
#                      removes, with its own random namespace_prefix; off: the API only
#   Anything after `--` (or any unknown option, e.g. --regex, --exclude-regex) is passed
#   to `tempest run`; a --regex replaces the service selection.
#
# The cloud: with OS_AUTH_URL set (and OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME of an admin,
# domains default "Default"), that running cloud is used as is. Otherwise a throwaway
# onestack ($ONESTACK_BIN, default target/debug/onestack; build it first) starts on a free
# loopback port with a temporary state directory, hypervisor qemu and the test guest
# ($ONESTACK_TEST_IMAGE, default target/test-image/test-image.qcow2) as its `cirros` image;
# everything it started (VMMs, dnsmasqs, namespaces) is removed at the end.
#
# Before the run the script writes tempest.conf from the cloud's catalog with DevStack's
# defaults (devstack/lib/tempest) for every feature onestack implements; the flags it turns
# off are listed in tests/tempest/run.py (DISABLED_FEATURES) with the reason. It makes sure
# of what tempest needs: the `cirros` image and an alternate one (`cirros-alt`), the
# flavors m1.nano (42) and m1.micro (84), the `public` network.
#
# Output (stable): one line per service `SERVICE: N passed, N failed, N skipped (of N selected)`,
# then a total line. "failed" counts tests that failed and tests that never ran (their
# class's setUpClass failed). Results stay in DIR (default target/tempest):
#   DIR/etc/tempest.conf              the configuration used
#   DIR/.stestr/                      the stestr repository (cd DIR; stestr last / failing)
#   DIR/tempest.log                   tempest's own log (every request and answer)
#   DIR/onestack.log                  the throwaway cloud's log
#   DIR/<service>/results.json        per test: status and, for failures, the traceback
#   DIR/<service>/failures.txt        the failed tests with their tracebacks
#   DIR/<service>/summary.txt         the service's counts line
#
# The tempest venv is cached at $ONESTACK_TEMPEST_VENV (default ~/.cache/onestack/tempest-venv;
# with orchestration $ONESTACK_TEMPEST_HEAT_VENV, default ~/.cache/onestack/tempest-heat-venv)
# with a stamp of its requirements; re-runs do not touch PyPI.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${ONESTACK_TEMPEST_VENV:-$HOME/.cache/onestack/tempest-venv}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="tempest==47.0.0"
# Orchestration's tests are heat-tempest-plugin's (tempest has none for Heat); the plugin
# and its clients live in a venv of their own, so the other services' runs are unchanged.
for arg in "$@"; do
    if [[ "$arg" == orchestration ]]; then
        VENV="${ONESTACK_TEMPEST_HEAT_VENV:-$HOME/.cache/onestack/tempest-heat-venv}"
        REQUIREMENTS="tempest==47.0.0 heat-tempest-plugin==3.0.0"
    fi
done

want_hash="$(printf '%s\n%s\n' "$REQUIREMENTS" "$("$PYTHON" -c 'import sys; print(sys.version)')" | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.onestack-requirements.sha256"
if ! [[ -x "$VENV/bin/tempest" && -f "$stamp" && "$(cat "$stamp")" == "$want_hash" ]]; then
    echo "tempest: installing $REQUIREMENTS into $VENV" >&2
    mkdir -p "$(dirname "$VENV")"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $REQUIREMENTS >&2
    printf '%s\n' "$want_hash" >"$stamp"
fi

exec "$VENV/bin/python" tests/tempest/run.py "$@"
