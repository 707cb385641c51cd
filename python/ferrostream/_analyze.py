"""Recognise small, pure Python functions so the engine can run them natively.

``analyze(func, nargs)`` reads a function's bytecode and, when it can prove what the function
computes, returns an expression in the tuple encoding that ``src/engine/expr.rs`` evaluates
(GIL released, in parallel). When in any doubt it returns ``None`` and the function runs in
Python as usual, so being conservative is always safe.

Encoding (nested tuples, first item a tag)::

    ("arg", i)                      positional argument i
    ("const", value)                None/bool/int (64-bit)/float/str/bytes, or a tuple of those
    ("tuple", (e, ...))             ("list", (e, ...))
    ("getitem", e, index)           index is an expression or ("slice", start, stop, step)
    ("binop", op, a, b)             op in + - * / // % **
    ("unary", op, e)                op in - + not
    ("cmp", op, a, b)               op in == != < <= > >= in "not in" (and is/"is not" vs None)
    ("cond", test, a, b)            a if test else b
    ("and", a, b)  ("or", a, b)
    ("method", name, recv, (args...))   str methods, see _METHODS
    ("call", name, (args...))           builtins, see _CALLS

The bytecode reader is a small symbolic interpreter over CPython 3.9-3.13 instructions: it
keeps a stack of expressions, and at a conditional jump evaluates both branches and joins
them into ``cond`` (or ``and``/``or``). Anything it does not understand rejects the function.
"""

from __future__ import annotations

import builtins
import dis
import inspect
import operator
import sys
import threading
import types
import weakref
from typing import Any, Optional

__all__ = ["analyze"]

# Builtins that may be called, with (min, max) positional argument counts (None = any).
_CALLS: dict[str, tuple[int, Optional[int]]] = {
    "len": (1, 1),
    "str": (1, 1),
    "int": (1, 1),
    "float": (1, 1),
    "abs": (1, 1),
    "bool": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "tuple": (1, 1),
    "sum": (1, 1),
}

# str methods that may be called, with (min, max) positional argument counts.
_METHODS: dict[str, tuple[int, int]] = {
    "split": (0, 2),
    "rsplit": (0, 2),
    "strip": (0, 1),
    "lstrip": (0, 1),
    "rstrip": (0, 1),
    "lower": (0, 0),
    "upper": (0, 0),
    "startswith": (1, 1),
    "endswith": (1, 1),
    "replace": (2, 3),
    "isdigit": (0, 0),
    "isalpha": (0, 0),
    "join": (1, 1),
}

_BINOPS = {"+", "-", "*", "/", "//", "%", "**"}
_LEGACY_BINOPS = {
    "BINARY_ADD": "+",
    "BINARY_SUBTRACT": "-",
    "BINARY_MULTIPLY": "*",
    "BINARY_TRUE_DIVIDE": "/",
    "BINARY_FLOOR_DIVIDE": "//",
    "BINARY_MODULO": "%",
    "BINARY_POWER": "**",
}
_CMP_OPS = {"==", "!=", "<", "<=", ">", ">="}

_ARG0 = ("arg", 0)
_ARG1 = ("arg", 1)

# Callables recognised as a whole (passed directly, e.g. ``reduceByKey(add)``).
_DIRECT_2 = (
    (operator.add, ("binop", "+", _ARG0, _ARG1)),
    (operator.sub, ("binop", "-", _ARG0, _ARG1)),
    (operator.mul, ("binop", "*", _ARG0, _ARG1)),
    (max, ("call", "max", (_ARG0, _ARG1))),
    (min, ("call", "min", (_ARG0, _ARG1))),
)
_DIRECT_1 = tuple((getattr(builtins, name), ("call", name, (_ARG0,))) for name in _CALLS) + tuple(
    (getattr(str, name), ("method", name, _ARG0, ()))
    for name in (
        "split",
        "rsplit",
        "strip",
        "lstrip",
        "rstrip",
        "lower",
        "upper",
        "isdigit",
        "isalpha",
    )
)


def _direct_1() -> tuple[tuple[Any, tuple], ...]:
    """The one-argument callables recognised as a whole, with ``ResultIterable`` (imported
    here: the analyzer is loaded before the RDD layer)."""
    from ferrostream.resultiterable import ResultIterable

    return (*_DIRECT_1, (ResultIterable, ("call", "ResultIterable", (_ARG0,))))


_BAD_FLAGS = (
    inspect.CO_VARARGS
    | inspect.CO_VARKEYWORDS
    | inspect.CO_GENERATOR
    | inspect.CO_COROUTINE
    | inspect.CO_ITERABLE_COROUTINE
    | inspect.CO_ASYNC_GENERATOR
)

_PY = sys.version_info[:2]
_MAX_STEPS = 2000
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1


class _Reject(Exception):
    """The function is not provably one of the supported shapes."""


class _Marker:
    """A non-expression stack item: NULL, a builtin, a bound str method, a slice."""

    __slots__ = ("kind", "name", "parts")

    def __init__(self, kind: str, name: str = "", parts: tuple = ()) -> None:
        self.kind = kind
        self.name = name
        self.parts = parts


_NULL = _Marker("null")


def _const(value: Any) -> tuple:
    return ("const", _check_const(value))


def _check_const(value: Any) -> Any:
    t = type(value)
    if value is None or t in (bool, str, bytes, float):
        return value
    if t is int:
        if _I64_MIN <= value <= _I64_MAX:
            return value
        raise _Reject("int constant out of 64-bit range")
    if t is tuple:
        for item in value:
            _check_const(item)
        return value
    raise _Reject(f"unsupported constant type {t.__name__}")


def _expr(item: Any) -> tuple:
    if not isinstance(item, tuple):
        raise _Reject("a callable or slice used as a value")
    return item


def _truth_test(item: Any) -> tuple:
    """The expression whose truthiness a jump tests (``bool(x)`` tests like ``x``)."""
    e = _expr(item)
    if e[0] == "call" and e[1] == "bool" and len(e[2]) == 1:
        return e[2][0]
    return e


def _same(a: tuple, b: tuple) -> bool:
    # repr distinguishes 1, 1.0 and True (tuple == would not).
    return repr(a) == repr(b)


def _join(test: tuple, if_true: tuple, if_false: tuple) -> tuple:
    if _same(test, if_true):
        return ("or", test, if_false)
    if _same(test, if_false):
        return ("and", test, if_true)
    return ("cond", test, if_true, if_false)


def _builtins_of(func: types.FunctionType) -> Any:
    b = getattr(func, "__builtins__", None)  # 3.10+
    if b is None:
        b = func.__globals__.get("__builtins__", builtins)
    if isinstance(b, types.ModuleType):
        b = vars(b)
    return b


def _is_real_builtin(func: types.FunctionType, name: str) -> bool:
    """True if the global ``name`` in ``func`` resolves to the real builtin of that name."""
    real = getattr(builtins, name)
    g = func.__globals__
    if name in g:
        return g[name] is real
    try:
        return _builtins_of(func).get(name) is real
    except Exception:
        return False


class _Interp:
    def __init__(self, func: types.FunctionType, nargs: int) -> None:
        code = func.__code__
        self.func = func
        self.instrs = [i for i in dis.get_instructions(code) if i.opname != "CACHE"]
        self.index = {ins.offset: n for n, ins in enumerate(self.instrs)}
        self.argnames = code.co_varnames[:nargs]
        self.steps = 0
        # Builtin names looked up, and whether each was the real builtin (for the cache).
        self.globals_seen: dict[str, bool] = {}

    def target(self, ins: Any) -> int:
        off = ins.argval
        if not isinstance(off, int) or off <= ins.offset or off not in self.index:
            raise _Reject("backward or unknown jump")
        return self.index[off]

    def local(self, name: Any) -> tuple:
        if name not in self.argnames:
            raise _Reject("local variable that is not an argument")
        return ("arg", self.argnames.index(name))

    def run(self, i: int, stack: list) -> tuple:
        instrs = self.instrs
        while True:
            self.steps += 1
            if self.steps > _MAX_STEPS or i >= len(instrs):
                raise _Reject("too complex")
            ins = instrs[i]
            op = ins.opname
            i += 1
            if op in ("NOP", "RESUME", "EXTENDED_ARG", "PRECALL", "NOT_TAKEN"):
                continue
            if op == "RETURN_VALUE":
                return _expr(stack.pop())
            if op == "RETURN_CONST":
                return _const(ins.argval)
            if op == "POP_TOP":
                stack.pop()
            elif op == "PUSH_NULL":
                stack.append(_NULL)
            elif op in ("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW"):
                stack.append(self.local(ins.argval))
            elif op in ("LOAD_FAST_LOAD_FAST", "LOAD_FAST_BORROW_LOAD_FAST_BORROW"):
                names = ins.argval
                if not (isinstance(names, tuple) and len(names) == 2):
                    raise _Reject("unexpected LOAD_FAST_LOAD_FAST")
                stack.append(self.local(names[0]))
                stack.append(self.local(names[1]))
            elif op in ("LOAD_CONST", "LOAD_SMALL_INT"):
                stack.append(_const(ins.argval))
            elif op == "LOAD_GLOBAL":
                self.load_global(ins, stack)
            elif op == "LOAD_METHOD" or (
                op == "LOAD_ATTR" and _PY >= (3, 12) and (ins.arg or 0) & 1
            ):
                name = ins.argval
                if name not in _METHODS:
                    raise _Reject(f"unsupported method {name!r}")
                recv = _expr(stack.pop())
                stack.append(_Marker("method", name))
                stack.append(recv)
            elif op in ("CALL", "CALL_FUNCTION", "CALL_METHOD"):
                self.call(op, ins.arg or 0, stack)
            elif op == "BINARY_OP":
                sym = ins.argrepr
                if sym not in _BINOPS:
                    raise _Reject(f"unsupported operator {sym!r}")
                b = _expr(stack.pop())
                a = _expr(stack.pop())
                stack.append(("binop", sym, a, b))
            elif op in _LEGACY_BINOPS:
                b = _expr(stack.pop())
                a = _expr(stack.pop())
                stack.append(("binop", _LEGACY_BINOPS[op], a, b))
            elif op == "BINARY_SUBSCR":
                index = stack.pop()
                container = _expr(stack.pop())
                if isinstance(index, _Marker) and index.kind == "slice":
                    stack.append(("getitem", container, ("slice", *index.parts)))
                else:
                    stack.append(("getitem", container, _expr(index)))
            elif op == "BINARY_SLICE":
                stop = _expr(stack.pop())
                start = _expr(stack.pop())
                container = _expr(stack.pop())
                stack.append(("getitem", container, ("slice", start, stop, ("const", None))))
            elif op == "BUILD_SLICE":
                n = ins.arg
                if n not in (2, 3):
                    raise _Reject("unexpected BUILD_SLICE")
                step = _expr(stack.pop()) if n == 3 else ("const", None)
                stop = _expr(stack.pop())
                start = _expr(stack.pop())
                stack.append(_Marker("slice", parts=(start, stop, step)))
            elif op in ("BUILD_TUPLE", "BUILD_LIST"):
                n = ins.arg or 0
                items = tuple(_expr(x) for x in stack[len(stack) - n :]) if n else ()
                del stack[len(stack) - n :]
                stack.append(("tuple" if op == "BUILD_TUPLE" else "list", items))
            elif op == "LIST_EXTEND":
                ext = _expr(stack.pop())
                if ins.arg != 1 or not stack:
                    raise _Reject("unexpected LIST_EXTEND")
                lst = stack[-1]
                if not (
                    isinstance(lst, tuple)
                    and lst[0] == "list"
                    and ext[0] == "const"
                    and type(ext[1]) is tuple
                ):
                    raise _Reject("list unpacking")
                stack[-1] = ("list", lst[1] + tuple(_const(v) for v in ext[1]))
            elif op == "LIST_TO_TUPLE":
                lst = _expr(stack.pop())
                if lst[0] != "list":
                    raise _Reject("tuple unpacking")
                stack.append(("tuple", lst[1]))
            elif op == "COMPARE_OP":
                sym = ins.argval if isinstance(ins.argval, str) else ""
                if sym not in _CMP_OPS:
                    sym = ins.argrepr
                    if sym.startswith("bool(") and sym.endswith(")"):
                        sym = sym[5:-1]
                if sym not in _CMP_OPS:
                    raise _Reject(f"unsupported comparison {ins.argrepr!r}")
                b = _expr(stack.pop())
                a = _expr(stack.pop())
                stack.append(("cmp", sym, a, b))
            elif op == "CONTAINS_OP":
                b = _expr(stack.pop())
                a = _expr(stack.pop())
                stack.append(("cmp", "not in" if ins.arg else "in", a, b))
            elif op == "IS_OP":
                b = _expr(stack.pop())
                a = _expr(stack.pop())
                none = ("const", None)
                if not (_same(a, none) or _same(b, none)):
                    raise _Reject("'is' other than against None")
                stack.append(("cmp", "is not" if ins.arg else "is", a, b))
            elif op == "UNARY_NEGATIVE":
                stack.append(("unary", "-", _expr(stack.pop())))
            elif op == "UNARY_POSITIVE" or (
                op == "CALL_INTRINSIC_1" and ins.argrepr == "INTRINSIC_UNARY_POSITIVE"
            ):
                stack.append(("unary", "+", _expr(stack.pop())))
            elif op == "UNARY_NOT":
                stack.append(("unary", "not", _truth_test(stack.pop())))
            elif op == "TO_BOOL":
                stack.append(("call", "bool", (_expr(stack.pop()),)))
            elif op in ("COPY", "DUP_TOP"):
                n = 1 if op == "DUP_TOP" else ins.arg
                if not n or n > len(stack):
                    raise _Reject("stack underflow")
                stack.append(stack[-n])
            elif op in ("SWAP", "ROT_TWO"):
                n = 2 if op == "ROT_TWO" else ins.arg
                if not n or n > len(stack):
                    raise _Reject("stack underflow")
                stack[-1], stack[-n] = stack[-n], stack[-1]
            elif op == "ROT_THREE":
                if len(stack) < 3:
                    raise _Reject("stack underflow")
                stack[-3:] = [stack[-1], stack[-3], stack[-2]]
            elif op in ("JUMP_FORWARD", "JUMP_ABSOLUTE", "JUMP", "JUMP_NO_INTERRUPT"):
                i = self.target(ins)
            elif op.startswith("POP_JUMP_") and "BACKWARD" not in op:
                return self.branch(op, ins, i, stack)
            elif op in ("JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP"):
                t = self.target(ins)
                kept = stack[-1]
                test = _truth_test(kept)
                popped = self.run(i, stack[:-1])
                jumped = self.run(t, list(stack))
                if op == "JUMP_IF_FALSE_OR_POP":
                    return _join(test, popped, jumped)
                return _join(test, jumped, popped)
            else:
                raise _Reject(f"unsupported instruction {op}")

    def branch(self, op: str, ins: Any, i: int, stack: list) -> tuple:
        t = self.target(ins)
        top = stack.pop()
        if op.endswith("_IF_NOT_NONE"):
            test, jump_when = ("cmp", "is", _expr(top), ("const", None)), False
        elif op.endswith("_IF_NONE"):
            test, jump_when = ("cmp", "is", _expr(top), ("const", None)), True
        elif op.endswith("_IF_FALSE"):
            test, jump_when = _truth_test(top), False
        elif op.endswith("_IF_TRUE"):
            test, jump_when = _truth_test(top), True
        else:
            raise _Reject(f"unsupported instruction {op}")
        fall = self.run(i, list(stack))
        jump = self.run(t, list(stack))
        if jump_when:
            return _join(test, jump, fall)
        return _join(test, fall, jump)

    def load_global(self, ins: Any, stack: list) -> None:
        name = ins.argval
        if name not in _CALLS:
            raise _Reject(f"global name {name!r}")
        real = _is_real_builtin(self.func, name)
        self.globals_seen[name] = real
        if not real:
            raise _Reject(f"global name {name!r} does not refer to the builtin")
        marker = _Marker("builtin", name)
        with_null = _PY >= (3, 11) and (ins.arg or 0) & 1
        if with_null and _PY < (3, 13):
            stack.append(_NULL)
        stack.append(marker)
        if with_null and _PY >= (3, 13):
            stack.append(_NULL)

    def call(self, op: str, argc: int, stack: list) -> None:
        if argc > len(stack):
            raise _Reject("stack underflow")
        args = tuple(_expr(x) for x in stack[len(stack) - argc :]) if argc else ()
        del stack[len(stack) - argc :]
        if op == "CALL_FUNCTION":
            callee = stack.pop()
            recv = None
        else:
            second = stack.pop()
            first = stack.pop()
            if isinstance(first, _Marker) and first.kind == "method":
                callee, recv = first, _expr(second)
            elif first is _NULL and isinstance(second, _Marker):
                callee, recv = second, None
            elif second is _NULL and isinstance(first, _Marker):
                callee, recv = first, None
            else:
                raise _Reject("call of an unknown callable")
        if not isinstance(callee, _Marker):
            raise _Reject("call of an unknown callable")
        if callee.kind == "method" and recv is not None:
            lo, hi = _METHODS[callee.name]
            if not lo <= argc <= hi:
                raise _Reject(f"{callee.name}() with {argc} arguments")
            stack.append(("method", callee.name, recv, args))
        elif callee.kind == "builtin" and recv is None:
            lo2, hi2 = _CALLS[callee.name]
            if argc < lo2 or (hi2 is not None and argc > hi2):
                raise _Reject(f"{callee.name}() with {argc} arguments")
            stack.append(("call", callee.name, args))
        else:
            raise _Reject("call of an unknown callable")


def _analyze_function(func: types.FunctionType, nargs: int) -> tuple[Optional[tuple], tuple]:
    code = func.__code__
    if (
        func.__closure__
        or func.__defaults__
        or func.__kwdefaults__
        or code.co_argcount != nargs
        or code.co_kwonlyargcount
        or code.co_flags & _BAD_FLAGS
        or code.co_freevars
        or code.co_cellvars
        or code.co_nlocals != nargs
        or (sys.version_info >= (3, 11) and code.co_exceptiontable)  # try/except
    ):
        return None, ()
    interp = _Interp(func, nargs)
    try:
        result: Optional[tuple] = interp.run(0, [])
    except Exception:  # _Reject, or bytecode we misread: never guess
        result = None
    return result, tuple(sorted(interp.globals_seen.items()))


# func -> {nargs: (code, ((builtin name, was the real builtin), ...), result)}
_cache: weakref.WeakKeyDictionary[Any, dict] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def analyze(func: Any, nargs: int) -> Optional[tuple]:
    """The expression encoding of ``func`` called with ``nargs`` positional arguments, or
    ``None`` when it is not provably one of the supported shapes.

    Results are cached per function object (weakly) and revalidated on every call: the
    code object, defaults and the global names resolving to builtins must be unchanged.
    """
    for known, expr in _DIRECT_2 if nargs == 2 else _direct_1() if nargs == 1 else ():
        if func is known:
            return expr
    if nargs == 1 and type(func) is operator.itemgetter:
        return _itemgetter(func)
    if type(func) is not types.FunctionType:
        return None
    with _lock:
        entry = _cache.get(func, {}).get(nargs)
    if entry is not None:
        code, checks, result = entry
        if (
            func.__code__ is code
            and func.__closure__ is None
            and not func.__defaults__
            and not func.__kwdefaults__
            and all(_is_real_builtin(func, n) == was for n, was in checks)
        ):
            return result
    result, checks = _analyze_function(func, nargs)
    with _lock:
        try:
            _cache.setdefault(func, {})[nargs] = (func.__code__, checks, result)
        except TypeError:
            pass
    return result


def _itemgetter(func: Any) -> Optional[tuple]:
    try:
        cls, items = func.__reduce__()
    except Exception:
        return None
    if cls is not operator.itemgetter or type(items) is not tuple or not items:
        return None
    try:
        keys = [_const(k) for k in items]
    except _Reject:
        return None
    if any(type(k[1]) not in (int, bool) for k in keys):
        return None
    if len(keys) == 1:
        return ("getitem", _ARG0, keys[0])
    return ("tuple", tuple(("getitem", _ARG0, k) for k in keys))
