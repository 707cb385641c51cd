#!/usr/bin/env bash
# The wheel as a user without Rust gets it: build it (scripts/build-wheels.sh; cached while the
# sources are unchanged), then for each of CPython 3.9, 3.10, 3.11, 3.12 and 3.13 make a fresh
# virtual environment, `pip install` the wheel there (no compiler involved) and run a smoke test
# from outside the repository: the native module loads, an RDD job and a streaming job give the
# right numbers, the console scripts start. Called by scripts/test.sh (so CI runs it).
#
# Interpreters: python3.X on PATH or under pyenv ($PYENV_ROOT or ~/.pyenv); a missing one fails.
# FERROSTREAM_WHEEL_PYTHONS="3.11 3.12" narrows the list.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

say() { printf '[test-wheels] %s\n' "$*"; }

bash scripts/build-wheels.sh dist
WHEEL="$(ls -t dist/ferrostream-*-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl | head -n 1)"
SDIST="$(ls -t dist/ferrostream-*.tar.gz | head -n 1)"

# The sdist builds anywhere a Rust toolchain is: it must carry the engine, the facade and the lock.
sdist_files="$(tar tzf "$SDIST")"
for f in pyproject.toml Cargo.toml Cargo.lock src/lib.rs src/engine/mod.rs src/python/mod.rs python/ferrostream/__init__.py; do
    if ! grep -q "/$f\$" <<<"$sdist_files"; then
        say "the sdist $SDIST lacks $f" >&2
        exit 1
    fi
done

find_python() {
    local v="$1" cand
    # pyenv's own interpreters first: its shims on PATH fail for versions that are not selected.
    for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v" \
        "$(command -v "python$v" 2>/dev/null || true)"; do
        if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import venv' >/dev/null 2>&1; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# The smoke test, run from an empty directory so that nothing of the checkout is importable.
cat >"$WORK/smoke.py" <<'EOF'
import sys
import sysconfig
from operator import add

import ferrostream
from ferrostream import SparkContext, _native
from ferrostream.streaming import StreamingContext

site = sysconfig.get_paths()["purelib"]
assert _native.__file__.startswith(site), f"native module from {_native.__file__}, not {site}"
sc = SparkContext("local[2]", "wheel-smoke")
words = sc.parallelize(["a b", "b c", "c c"], 2).flatMap(lambda s: s.split(" "))
assert sorted(words.map(lambda w: (w, 1)).reduceByKey(add).collect()) == [
    ("a", 1), ("b", 2), ("c", 3)
]
ssc = StreamingContext(sc, 0.2)
seen = []
ssc.queueStream([sc.parallelize(range(10)), sc.parallelize(range(5))]).count().foreachRDD(
    lambda rdd: seen.extend(rdd.collect())
)
ssc.start()
ssc.awaitTerminationOrTimeout(1.5)
ssc.stop(stopSparkContext=True)
assert seen[:2] == [10, 5], seen
print(f"ok: Python {sys.version.split()[0]}, ferrostream {ferrostream.__version__}")
EOF

# One interpreter: a fresh venv, the wheel installed by pip, the smoke test, the console scripts.
check_python() {
    local v="$1" py env_dir out
    if ! py="$(find_python "$v")"; then
        say "CPython $v: no interpreter found (python$v on PATH or under pyenv)"
        return 1
    fi
    env_dir="$WORK/venv-$v"
    "$py" -m venv "$env_dir"
    if ! "$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$ROOT/$WHEEL"; then
        say "CPython $v: pip install of the wheel failed"
        return 1
    fi
    if ! out="$(cd "$WORK" && timeout 120 "$env_dir/bin/python" smoke.py 2>&1)"; then
        printf '%s\n' "$out"
        say "CPython $v: smoke test failed"
        return 1
    fi
    for script in ferrostream-submit ferrostream-shell; do
        if ! (cd "$WORK" && timeout 60 "$env_dir/bin/$script" --version >/dev/null); then
            say "CPython $v: $script does not start"
            return 1
        fi
    done
    # The shell, as a user without IPython gets it: `sc` is there.
    if ! shell_out="$(cd "$WORK" && printf 'print("shell", sc.parallelize(range(10)).sum())\n' \
        | timeout 60 "$env_dir/bin/ferrostream-shell" --master 'local[2]' 2>&1)" \
        || ! grep -q 'shell 45$' <<<"$shell_out"; then
        printf '%s\n' "$shell_out"
        say "CPython $v: ferrostream-shell does not give a working sc"
        return 1
    fi
    say "CPython $v: $(tail -n 1 <<<"$out")"
}

versions="${FERROSTREAM_WHEEL_PYTHONS:-3.9 3.10 3.11 3.12 3.13}"
# In parallel: most of the time is spent creating venvs and in pip.
pids=()
for v in $versions; do
    check_python "$v" >"$WORK/log-$v" 2>&1 &
    pids+=("$!")
done
failed=0
i=0
for v in $versions; do
    if ! wait "${pids[$i]}"; then
        failed=1
    fi
    cat "$WORK/log-$v"
    i=$((i + 1))
done
if [ "$failed" -ne 0 ]; then
    say "FAILED" >&2
    exit 1
fi
say "the wheel installs and works on CPython $(echo $versions | tr ' ' ',')"
