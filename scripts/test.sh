#!/usr/bin/env bash
# The README's test command: every test of the workspace, then one line that says which tests
# returned early and why (a file of ../shared absent, an opt-in setting not given; README,
# "Tests that need more"), then a type-check of the CUDA build. Arguments go to `cargo test`
# (e.g. `scripts/test.sh --test sweep`). With CI=true a missing ../shared file fails its test.
set -uo pipefail
cd "$(dirname "$0")/.."

GUARDTUNE_SKIP_LOG=$(mktemp)
export GUARDTUNE_SKIP_LOG
trap 'rm -f "$GUARDTUNE_SKIP_LOG"' EXIT

cargo test --release --workspace "$@"
status=$?

# Each skipped test wrote `test<TAB>why` (guardtune_model::testing::skip).
skipped=$(cut -f1 "$GUARDTUNE_SKIP_LOG" | sort -u | wc -l)
if [ "$skipped" -eq 0 ]; then
    echo "skipped tests: none"
else
    reasons=$(cut -f2 "$GUARDTUNE_SKIP_LOG" | sed -E 's/^needs (\.\.\/shared)\/.*/needs \1/' \
        | sort | uniq -c | sed -E 's/^ *([0-9]+) (.*)/\2 (\1)/' | paste -sd ';' - | sed 's/;/; /g')
    echo "skipped tests: $skipped returned early: $reasons; see README, \"Tests that need more\""
fi
[ "$status" -eq 0 ] || exit "$status"

# Only type-checks the CUDA build, so that it never rots; no GPU is needed.
cargo check --release -p guardtune --features cuda
