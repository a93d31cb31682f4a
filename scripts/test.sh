#!/usr/bin/env bash
# The test command: unit tests, property tests, and integration tests that start the real
# gateway binary in front of the simulated Oracle on loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --all-targets --no-fail-fast "$@"
