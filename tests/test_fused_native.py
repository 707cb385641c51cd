"""Fused native chains (flatMap -> map -> combine in one pass) must equal plain Python."""

from __future__ import annotations

import operator
from collections import Counter

import pytest

from ferrostream import SparkContext
from ferrostream._analyze import analyze


def _py_word_count(lines: list[str], split) -> Counter:
    counts: Counter = Counter()
    for line in lines:
        for w in split(line):
            counts[w] += 1
    return counts


LINES = [
    "the quick  brown fox",
    "",
    "  leading and trailing  ",
    "tabs\tare\tnot spaces",
    "unicode café naïve café",
    "wide\u3000space and\u00a0nbsp",
    "the the the",
]


@pytest.mark.parametrize(
    "split",
    [lambda line: line.split(" "), lambda line: line.split(), lambda line: line.split("a")],
    ids=["sep-space", "whitespace", "sep-a"],
)
@pytest.mark.parametrize("add", [lambda a, b: a + b, operator.add], ids=["lambda", "operator"])
def test_word_count_chain_matches_python(sc: SparkContext, split, add) -> None:
    assert analyze(split, 1) is not None and analyze(add, 2) is not None
    rdd = sc.parallelize(LINES * 3, 2)
    got = dict(rdd.flatMap(split).map(lambda w: (w, 1)).reduceByKey(add).collect())
    assert got == dict(_py_word_count(LINES * 3, split))


def test_overflow_in_the_middle_of_a_partition_falls_back_exactly(sc: SparkContext) -> None:
    # 2**62 + 2**62 overflows 64 bits: native code must hand the partition to Python.
    big = 2**62
    data = [("a", 1), ("b", big), ("a", 2), ("b", big), ("c", 3)]
    got = dict(sc.parallelize(data, 1).reduceByKey(lambda a, b: a + b).collect())
    assert got == {"a": 3, "b": 2 * big, "c": 3}


def test_fused_chain_keeps_first_seen_key_order(sc: SparkContext) -> None:
    # One partition, one reduce partition: the order is the order keys were first seen.
    lines = ["b a c", "a d b"]
    got = (
        sc.parallelize(lines, 1)
        .flatMap(lambda line: line.split(" "))
        .map(lambda w: (w, 1))
        .reduceByKey(lambda a, b: a + b, 1)
        .collect()
    )
    assert got == [("b", 2), ("a", 2), ("c", 1), ("d", 1)]


def test_non_string_records_take_the_python_path(sc: SparkContext) -> None:
    # Mixed types: tuples as keys, float values; native combine handles them or falls back.
    data = [((1, "x"), 1.5), ((1, "x"), 2), (None, 1), (None, True)]
    got = dict(sc.parallelize(data, 2).reduceByKey(lambda a, b: a + b).collect())
    assert got == {(1, "x"): 3.5, None: 2}
