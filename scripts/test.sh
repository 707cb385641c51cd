#!/usr/bin/env bash
# Install what the tests need into .venv and run every test: Rust checks and unit tests, the
# Python lint, then pytest against the freshly built package. Used by the README and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

# A cargo target directory outside the clone survives between runs (a cache, never required).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferrostream-target}"
PY="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }

step "Python environment (.venv)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# confluent-kafka: the Kafka tests' own client (producing, watermarks, committed offsets).
# boto3: the Kinesis tests' own client (streams, producing, the lease table).
.venv/bin/python -m pip install --quiet "maturin>=1.9.4,<2" pytest pytest-timeout ruff mypy cloudpickle \
    "confluent-kafka>=2.16,<2.17" "boto3>=1.34"

step "Rust: format, lints, engine without pyo3, unit tests"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo check --no-default-features --locked
cargo test --no-default-features --locked --quiet

step "Build and install ferrostream into .venv"
.venv/bin/maturin develop --release --locked --quiet 2>&1 | grep -v '^$' | tail -n 3

step "Python lint, types, and the native module's stubs checked against the built module"
.venv/bin/ruff check python tests benches examples
.venv/bin/python -m mypy python/ferrostream
.venv/bin/python -m mypy.stubtest ferrostream._native

step "pytest"
set +e
.venv/bin/python -m pytest -q --durations=15 "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$status"
