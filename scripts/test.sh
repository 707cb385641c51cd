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
# nbclient, ipykernel: notebooks run in a real Jupyter kernel (IPython: ferrostream-shell's prompt).
# playwright: the web UI's browser test (it drives Debian's chromium).
# boto3: the Kinesis tests' own client (streams, producing, the lease table).
.venv/bin/python -m pip install --quiet "maturin>=1.9.4,<2" pytest pytest-timeout ruff mypy cloudpickle \
    "confluent-kafka>=2.16,<2.17" nbclient ipykernel "playwright>=1.49,<2" "boto3>=1.34"

step "Headless Chromium for the web UI's browser test (Debian's package, installed once)"
# Playwright drives the system browser; nothing downloads a browser build.
CHROMIUM="$(bash scripts/chromium.sh)"
export CHROMIUM FERROSTREAM_REQUIRE_BROWSER=1

step "Rust: format, lints, engine without pyo3, unit tests"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo check --no-default-features --locked
cargo test --no-default-features --locked --quiet

step "Build the wheel users install (abi3, manylinux2014) and install it into .venv"
# The tests run against the very wheel users get (one release build serves both; while the
# sources are unchanged it is reused).
bash scripts/build-wheels.sh dist
WHEEL="$(ls -t dist/ferrostream-*-manylinux2014_x86_64*.whl | head -n 1)"
.venv/bin/python -m pip install --quiet --force-reinstall --no-deps "$WHEEL"

step "Python lint, types, and the native module's stubs checked against the built module"
.venv/bin/ruff check python tests benches examples
.venv/bin/ruff format --check python tests benches examples
.venv/bin/python -m mypy python/ferrostream
.venv/bin/python -m mypy.stubtest ferrostream._native

step "Wheels: manylinux2014 wheel + sdist (cached while the sources are unchanged), installed into CPython 3.9-3.13"
bash scripts/test-wheels.sh

# The suite's last line of defence against a hang (each test has its deadline, and a test stuck
# past it ends the session, see tests/conftest.py): Ctrl+C after 45 min, so that fixtures still
# stop the services they started, then a kill.
PYTEST_LIMIT=(timeout --signal=INT --kill-after=120 45m)

step "pytest"
set +e
"${PYTEST_LIMIT[@]}" .venv/bin/python -m pytest -q --durations=15 "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
[ "$status" -eq 0 ] || exit "$status"

# The suite above runs Python functions on worker processes wherever a test uses local[N>1]
# (the default). The RDD and DStream suites run once more with every function in the driver's
# interpreter (spark.ferrostream.python.workers=in-process), the other mode users can choose.
if [ "$#" -eq 0 ]; then
    step "pytest: RDD and DStream suites with Python functions in the driver (in-process)"
    FERROSTREAM_PYTHON_WORKERS=in-process "${PYTEST_LIMIT[@]}" .venv/bin/python -m pytest -q \
        tests/test_rdd.py tests/test_rdd_keys.py tests/test_rdd_native_actions.py \
        tests/test_rdd_shuffle.py tests/test_fused_native.py tests/test_streaming_ops.py \
        tests/test_streaming_state.py tests/test_streaming_window.py \
        tests/test_streaming_output.py tests/test_checkpoint.py
fi
