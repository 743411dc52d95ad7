# Sourced by the benchmark scripts that boot guests (bench-compute, bench-restore), from
# the repository root: sets TARGET, BIN (ONESTACK_BIN, else target/release/onestack when
# built, else target/debug/onestack; builds nothing) and IMAGE (ONESTACK_TEST_IMAGE,
# else the image scripts/build-test-image.sh makes), and stops when either is missing.
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
if [[ -n "${ONESTACK_BIN:-}" ]]; then
    BIN="$ONESTACK_BIN"
elif [[ -x "$TARGET/release/onestack" ]]; then
    BIN="$TARGET/release/onestack"
else
    BIN="$TARGET/debug/onestack"
fi
[[ -x "$BIN" ]] || { echo "no onestack binary at $BIN: run cargo build first"; exit 1; }
IMAGE="${ONESTACK_TEST_IMAGE:-$TARGET/test-image/test-image.qcow2}"
[[ -f "$IMAGE" ]] || { echo "no test image at $IMAGE: run scripts/build-test-image.sh"; exit 1; }
