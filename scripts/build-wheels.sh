#!/usr/bin/env bash
# Build what users install without a Rust toolchain: one abi3 wheel (CPython 3.9 and later) tagged
# manylinux2014 (glibc 2.17: Ubuntu 18.04+, Debian 10+, RHEL/CentOS 7+) and an sdist, into dist/
# (or the directory given as $1).
#
# No manylinux container is needed: `maturin --zig` links against glibc 2.17's symbols with
# PyPI's `ziglang`, so nothing newer can slip in. librdkafka and zlib are compiled in statically
# (no system library is needed at run time); `auditwheel show` must call the wheel
# manylinux2014-compliant, or this script fails.
#
# Builds are cached by the sources' hash under $CARGO_TARGET_DIR/wheels/<hash>/: unchanged
# sources reuse the last wheel and sdist at once (FERROSTREAM_WHEEL_REBUILD=1 forces a build).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferrostream-target}"
OUT="${1:-dist}"
PY="${PYTHON:-python3}"
# zlib inside the wheel: a system libz.so.1 is not on manylinux2014's list of libraries a
# wheel may expect.
export LIBZ_SYS_STATIC=1

say() { printf '[build-wheels] %s\n' "$*"; }

# The build tools live in .venv next to the test tools (scripts/test.sh makes it).
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet "maturin>=1.9.4,<2" "ziglang>=0.13" "auditwheel>=6"

# Every file that goes into the wheel or the sdist, tracked or new (ignored build output is not).
sources_hash() {
    git ls-files -z --cached --others --exclude-standard -- \
        src python Cargo.toml Cargo.lock pyproject.toml README.md LICENSE* \
        | sort -z | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-16
}
HASH="$(sources_hash)"
CACHE="$CARGO_TARGET_DIR/wheels/$HASH"
mkdir -p "$OUT"

if [ -z "${FERROSTREAM_WHEEL_REBUILD:-}" ] && compgen -G "$CACHE/*.whl" >/dev/null \
    && compgen -G "$CACHE/*.tar.gz" >/dev/null; then
    say "sources unchanged since the last build ($HASH): reusing $CACHE"
else
    say "building the wheel and the sdist (sources $HASH; a cold release build takes minutes)"
    rm -rf "$CACHE.tmp" && mkdir -p "$CACHE.tmp"
    # zig's wrappers are found through the venv's PATH (python -m ziglang).
    PATH="$PWD/.venv/bin:$PATH" .venv/bin/maturin build --release --locked --zig \
        --compatibility manylinux2014 --out "$CACHE.tmp" 2>&1 | grep -v '^$' | tail -n 5
    .venv/bin/maturin sdist --out "$CACHE.tmp" 2>&1 | grep -v '^$' | tail -n 2
    rm -rf "$CACHE" && mv "$CACHE.tmp" "$CACHE"
    # Keep the last few builds only.
    ls -1dt "$CARGO_TARGET_DIR"/wheels/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
fi

WHEEL="$(ls "$CACHE"/*.whl)"
SDIST="$(ls "$CACHE"/*.tar.gz)"
case "$(basename "$WHEEL")" in
    *-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl) ;;
    *) say "unexpected wheel tags: $(basename "$WHEEL")" >&2; exit 1 ;;
esac
show="$(.venv/bin/auditwheel show "$WHEEL")"
# auditwheel wraps its sentences; compare them on one line.
if ! tr -s ' \n' '  ' <<<"$show" \
    | grep -Eq 'consistent with the following platform tag: "manylinux_2_(5|12|17)_x86_64"'; then
    printf '%s\n' "$show" >&2
    say "auditwheel does not call the wheel manylinux2014 (manylinux_2_17) compliant" >&2
    exit 1
fi
cp -f "$WHEEL" "$SDIST" "$OUT"/
say "auditwheel: manylinux2014 (manylinux_2_17_x86_64) compliant"
say "wheel: $OUT/$(basename "$WHEEL")"
say "sdist: $OUT/$(basename "$SDIST")"
