"""Deterministic word-count corpus for the benchmarks.

The corpus is N lines of 8-12 space-separated words drawn from a 5,000-word vocabulary of made-up
lowercase words with Zipf-like frequencies (weight of rank r is 1 / r**s, s = 1).  Everything is
derived from a seeded ``random.Random``, so the same arguments always give byte-identical files.
The file is written under ``bench-data/`` (gitignored) at the repository root and reused when it
already exists.  2 M lines are about 20 M words and 170 MB; generating them takes about 10 s.

A second corpus, for keyed state over a large key space: N lines of exactly 10 words drawn
uniformly (with replacement) from ``k0 .. k{keys-1}`` (default 1 M keys), also seeded and cached
under ``bench-data/`` (1 M lines are about 10 M words and 75 MB; generating them takes about 10 s).
``input_chunks`` turns either corpus into the per-batch input of a benchmark: lines, words, or
``(word, value)`` pairs with a seeded random ``value``.

Usable as a module (``load_lines``, ``load_chunks``, ``corpus_path``, ``load_uniform_lines``,
``input_chunks``) or as a script:

    python benches/_corpus.py --lines 2000000
    python benches/_corpus.py --uniform --lines 1000000 --keys 1000000
"""

from __future__ import annotations

import argparse
import os
import random
from collections import Counter
from collections.abc import Iterable
from itertools import accumulate
from pathlib import Path

DEFAULT_LINES = 2_000_000
DEFAULT_VOCAB = 5_000
DEFAULT_SEED = 20240101
ZIPF_S = 1.0
MIN_WORDS, MAX_WORDS = 8, 12

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "bench-data"

_ONSETS = [
    "b",
    "d",
    "f",
    "g",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "dr",
    "gl",
    "kr",
    "pl",
    "st",
    "tr",
    "sh",
    "ch",
    "th",
]
_NUCLEI = ["a", "e", "i", "o", "u", "ai", "ou", "ee", "oa"]
_CODAS = ["", "", "", "n", "r", "s", "l", "m", "k", "x"]


def make_vocabulary(size: int = DEFAULT_VOCAB, seed: int = DEFAULT_SEED) -> list[str]:
    """``size`` distinct made-up lowercase words (1-3 syllables), most frequent rank first."""
    rng = random.Random(seed)
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < size:
        nsyl = rng.choices((1, 2, 3), weights=(1, 3, 2))[0]
        w = "".join(
            rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS) for _ in range(nsyl)
        )
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def generate_lines(
    n_lines: int = DEFAULT_LINES, vocab_size: int = DEFAULT_VOCAB, seed: int = DEFAULT_SEED
):
    """Yield ``n_lines`` lines (without newline)."""
    vocab = make_vocabulary(vocab_size, seed)
    cum = list(accumulate(1.0 / (r**ZIPF_S) for r in range(1, vocab_size + 1)))
    rng = random.Random(seed + 1)
    choices = rng.choices
    randint = rng.randint
    for _ in range(n_lines):
        yield " ".join(choices(vocab, cum_weights=cum, k=randint(MIN_WORDS, MAX_WORDS)))


def corpus_path(
    n_lines: int = DEFAULT_LINES, vocab_size: int = DEFAULT_VOCAB, seed: int = DEFAULT_SEED
) -> Path:
    return DATA_DIR / f"corpus-{n_lines}-v{vocab_size}-s{seed}.txt"


def ensure_corpus(
    n_lines: int = DEFAULT_LINES, vocab_size: int = DEFAULT_VOCAB, seed: int = DEFAULT_SEED
) -> Path:
    """Write the corpus file if it is not there yet; return its path."""
    path = corpus_path(n_lines, vocab_size, seed)
    if path.exists():
        return path
    _write_lines(path, generate_lines(n_lines, vocab_size, seed))
    return path


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` to ``path`` through a temporary file renamed at the end (atomic:
    concurrent readers never see a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        buf: list[str] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= 65536:
                f.write("\n".join(buf))
                f.write("\n")
                buf.clear()
        if buf:
            f.write("\n".join(buf))
            f.write("\n")
    os.replace(tmp, path)


def load_lines(
    n_lines: int = DEFAULT_LINES, vocab_size: int = DEFAULT_VOCAB, seed: int = DEFAULT_SEED
) -> list[str]:
    path = ensure_corpus(n_lines, vocab_size, seed)
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def word_counts(n_lines: int = DEFAULT_LINES) -> tuple[Path, Counter[str], int]:
    """The corpus of ``n_lines`` (written if needed): its path, the count of each word (what a
    word count must find) and the number of words."""
    path = ensure_corpus(n_lines)
    counts = Counter(w for line in load_lines(n_lines) for w in line.split(" "))
    return path, counts, sum(counts.values())


def split_chunks(lines: list[str], k: int) -> list[list[str]]:
    """Split into ``k`` contiguous chunks of (almost) equal size, in order."""
    n = len(lines)
    bounds = [n * i // k for i in range(k + 1)]
    return [lines[bounds[i] : bounds[i + 1]] for i in range(k)]


def load_chunks(
    k: int = 20,
    n_lines: int = DEFAULT_LINES,
    vocab_size: int = DEFAULT_VOCAB,
    seed: int = DEFAULT_SEED,
) -> list[list[str]]:
    """The corpus lines split into ``k`` chunks."""
    return split_chunks(load_lines(n_lines, vocab_size, seed), k)


# --------------------------------------------------------------------------------------------
# uniform keys

DEFAULT_KEYS = 1_000_000
UNIFORM_WORDS_PER_LINE = 10
PAIR_VALUE_RANGE = 1_000_000_000


def uniform_path(n_lines: int, n_keys: int = DEFAULT_KEYS, seed: int = DEFAULT_SEED) -> Path:
    return DATA_DIR / f"uniform-{n_lines}-k{n_keys}-w{UNIFORM_WORDS_PER_LINE}-s{seed}.txt"


def generate_uniform_lines(n_lines: int, n_keys: int = DEFAULT_KEYS, seed: int = DEFAULT_SEED):
    """Yield ``n_lines`` lines of 10 words drawn uniformly from ``k0 .. k{n_keys-1}``."""
    keys = [f"k{i}" for i in range(n_keys)]
    rng = random.Random(seed + 2)
    w = UNIFORM_WORDS_PER_LINE
    done = 0
    while done < n_lines:
        block = min(65536, n_lines - done)
        ws = rng.choices(keys, k=block * w)
        for i in range(0, block * w, w):
            yield " ".join(ws[i : i + w])
        done += block


def ensure_uniform_corpus(
    n_lines: int, n_keys: int = DEFAULT_KEYS, seed: int = DEFAULT_SEED
) -> Path:
    """Write the uniform-key corpus file if it is not there yet; return its path."""
    path = uniform_path(n_lines, n_keys, seed)
    if path.exists():
        return path
    _write_lines(path, generate_uniform_lines(n_lines, n_keys, seed))
    return path


def load_uniform_lines(
    n_lines: int, n_keys: int = DEFAULT_KEYS, seed: int = DEFAULT_SEED
) -> list[str]:
    path = ensure_uniform_corpus(n_lines, n_keys, seed)
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def pair_values(chunk_index: int, n: int, seed: int = DEFAULT_SEED) -> list[int]:
    """The ``value`` of each of the ``n`` pairs of chunk ``chunk_index`` (seeded, reproducible)."""
    rng = random.Random(seed * 1000 + chunk_index)
    r = rng.randrange
    return [r(PAIR_VALUE_RANGE) for _ in range(n)]


def input_chunks(
    kind: str,
    corpus: str,
    k: int,
    n_lines: int,
    n_keys: int = DEFAULT_KEYS,
    seed: int = DEFAULT_SEED,
):
    """Yield the input of each of the ``k`` batches, one list at a time, in order.

    ``corpus`` is ``zipf`` (the word-count corpus) or ``uniform`` (uniform keys); ``kind`` is
    ``lines`` (the lines of the chunk), ``words`` (its words, in order) or ``pairs``
    (``(word, value)`` for each word, ``value`` from :func:`pair_values`).  Chunks are contiguous
    slices of the corpus of (almost) equal numbers of lines.
    """
    if corpus == "zipf":
        lines = load_lines(n_lines, DEFAULT_VOCAB, seed)
    elif corpus == "uniform":
        lines = load_uniform_lines(n_lines, n_keys, seed)
    else:
        raise ValueError(f"unknown corpus {corpus!r}")
    if kind not in ("lines", "words", "pairs"):
        raise ValueError(f"unknown input kind {kind!r}")
    chunks = split_chunks(lines, k)
    del lines
    for i in range(k):
        chunk = chunks[i]
        chunks[i] = []  # drop the lines once this chunk is handed out
        if kind == "lines":
            yield chunk
            continue
        words = [w for line in chunk for w in line.split(" ")]
        del chunk
        if kind == "words":
            yield words
        else:
            yield list(zip(words, pair_values(i, len(words), seed)))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lines", type=int, default=DEFAULT_LINES)
    ap.add_argument("--vocab", type=int, default=DEFAULT_VOCAB)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--uniform", action="store_true", help="the uniform-key corpus")
    ap.add_argument("--keys", type=int, default=DEFAULT_KEYS, help="uniform: key space size")
    a = ap.parse_args()
    if a.uniform:
        p = ensure_uniform_corpus(a.lines, a.keys, a.seed)
    else:
        p = ensure_corpus(a.lines, a.vocab, a.seed)
    print(p)


if __name__ == "__main__":
    main()
