#!/usr/bin/env bash
# The README promises one build: after its main job (`cargo run --release -p guardtune -- ...`),
# its test command compiles only the workspace's own crates and test targets, never a dependency
# again. This builds the tests without running them and lists any dependency that had to be
# compiled, failing if there is one. Run it right after the main job (as .ci/run does).
#
# Why it can fail: a dev-dependency, or a feature only the tests turn on, changes the features
# that cargo resolves for a shared dependency, which then builds twice (with everything above it).
# The fix is to make the two feature sets equal again (see train/Cargo.toml's `tempfile`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Cargo's JSON messages: one "compiler-artifact" per compiled unit, "fresh": false when it was
# compiled now. Workspace members have "path+file://" package ids; dependencies do not.
messages=$(mktemp)
trap 'rm -f "$messages"' EXIT
if ! cargo test --release --workspace --no-run --message-format=json >"$messages"; then
    # The JSON hides the compiler's own words: build again in plain text to show them, with the
    # disk and memory left (a linker that runs out of either fails with "1 previous error").
    echo "the test build failed; again, in plain text:"
    cargo test --release --workspace --no-run 2>&1 | grep -v '^ *\(Compiling\|Executable\)' | tail -40 || true
    df -h . | tail -1
    free -m | head -2
    exit 1
fi
rebuilt=$(grep '"reason":"compiler-artifact"' "$messages" \
    | grep '"fresh":false' \
    | grep -v '"package_id":"path+file://' \
    | sed -E 's/.*"package_id":"[^"#]*#([^"]*)".*/\1/' \
    | sort -u || true)
if [ -n "$rebuilt" ]; then
    echo "the test build compiled $(echo "$rebuilt" | wc -l) dependencies again after the main build:"
    echo "$rebuilt" | sed 's/^/  /'
    exit 1
fi
echo "one build: the test build reused every dependency of the main build"
