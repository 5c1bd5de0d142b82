"""Labels and label selectors, with the rules and meaning of Kubernetes' label selectors.

A label key is a name (1-63 letters, digits, ``-``, ``_`` and ``.``, starting and ending with a
letter or digit), optionally after a DNS subdomain prefix and ``/``; a value is empty or a name.
A selector is what ``kubectl -l`` takes: comma-separated requirements that must all hold, each
``key=value`` (or ``==``), ``key!=value``, ``key in (v1,v2)``, ``key notin (v1,v2)``, ``key``
(exists) or ``!key`` (does not). As in Kubernetes, ``!=`` and ``notin`` also match objects without
the key, an empty value is written as nothing (``key=``, ``key in (a,)``), and the empty selector
matches everything. Unlike it, ``<`` and ``>`` are not supported, an empty list ``()`` is refused,
and spaces are the only whitespace (control characters, tabs included, are refused).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Literal, NamedTuple, NoReturn

from coordinator.errors import CoordinatorError

MAX_LABELS = 64
MAX_SELECTOR_LENGTH = 4096
MAX_NAME_LENGTH = 63
MAX_PREFIX_LENGTH = 253
_SHOWN = 100

Operator = Literal["=", "!=", "in", "notin", "exists", "!exists"]
_ONE, _SOME, _NONE = "exactly one value", "at least one value", "no values"
_ARITY = {"=": _ONE, "!=": _ONE, "in": _SOME, "notin": _SOME, "exists": _NONE, "!exists": _NONE}
_ORDER = {operator: rank for rank, operator in enumerate(_ARITY)}
_ALNUM = frozenset(string.ascii_letters + string.digits)
_NAME_CHARS = _ALNUM | frozenset("-_.")
_PREFIX_ALNUM = frozenset(string.ascii_lowercase + string.digits)
_PREFIX_CHARS = _PREFIX_ALNUM | frozenset("-")
_SYMBOLS = frozenset(["==", "!=", *"=!(),<>"])
_TOKEN = re.compile(r"==|!=|[=!(),<>]|[^ =!(),<>]+")  # linear: no alternative backtracks
_NAME_RULE = "letters, digits, '-', '_' and '.', starting and ending with a letter or digit"


def _shown(text: str) -> str:
    """Text for a message: its repr, cut to about a hundred characters."""
    if len(text) <= _SHOWN:
        return repr(text)
    return f"{text[:_SHOWN]!r}... ({len(text)} characters)"


def _is_name(text: str, alnum: frozenset[str], chars: frozenset[str]) -> bool:
    return bool(text) and text[0] in alnum and text[-1] in alnum and all(c in chars for c in text)


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key, or None when it is."""
    what = f"label key {_shown(key)}"
    if not key:
        return f"{what} must not be empty"
    prefix, slash, name = key.rpartition("/")
    if slash:
        if "/" in prefix:
            return f"{what} must have at most one '/', after a DNS subdomain prefix"
        if not prefix:
            return f"{what} must not have an empty prefix before '/'"
        if len(prefix) > MAX_PREFIX_LENGTH:
            return f"{what} has a prefix longer than {MAX_PREFIX_LENGTH} characters ({len(prefix)})"
        if not all(_is_name(part, _PREFIX_ALNUM, _PREFIX_CHARS) for part in prefix.split(".")):
            return (
                f"{what} has a prefix that is not a DNS subdomain: lowercase letters, digits, '-'"
                " and '.', each dot-separated part starting and ending with a letter or digit"
            )
    if not name:
        return f"{what} must not have an empty name after '/'"
    if len(name) > MAX_NAME_LENGTH:
        return f"{what} has a name longer than {MAX_NAME_LENGTH} characters ({len(name)})"
    if not _is_name(name, _ALNUM, _NAME_CHARS):
        return f"{what} has a name that is not {_NAME_RULE}"
    return None


def label_value_problem(key: str, value: str) -> str | None:
    """Why ``value`` is not a valid value for the label ``key``, or None when it is."""
    what = f"label value {_shown(value)} of key {_shown(key)}"
    if len(value) > MAX_NAME_LENGTH:
        return f"{what} is longer than {MAX_NAME_LENGTH} characters ({len(value)})"
    if value and not _is_name(value, _ALNUM, _NAME_CHARS):
        return f"{what} must be empty or {_NAME_RULE}"
    return None


def labels_problem(labels: Mapping[str, str], max_labels: int = MAX_LABELS) -> str | None:
    """The first problem with a set of labels (too many, then by key in sorted order), or None."""
    if len(labels) > max_labels:
        return f"at most {max_labels} labels are allowed, got {len(labels)}"
    for key in sorted(labels):
        problem = label_key_problem(key) or label_value_problem(key, labels[key])
        if problem:
            return problem
    return None


class SelectorError(CoordinatorError, ValueError):
    """A selector that does not parse: what is wrong, at which position (0-based), near what."""

    def __init__(self, reason: str, text: str, position: int | None = None) -> None:
        where = "" if position is None else f" at position {position} in {_near(text, position)}"
        super().__init__(f"labelSelector: {reason}{where}")
        self.reason = reason
        self.position = position


def _near(text: str, position: int) -> str:
    if len(text) <= _SHOWN:
        return repr(text)
    start = max(0, min(position - _SHOWN // 2, len(text) - _SHOWN))
    end = start + _SHOWN
    return f"{'...' if start else ''}{text[start:end]!r}{'...' if end < len(text) else ''}"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One condition on a label; ``=`` and ``!=`` have one value, exists and !exists none."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", frozenset(self.values))
        if self.operator not in _ARITY:
            raise ValueError(f"unknown selector operator {_shown(str(self.operator))}")
        count, wanted = len(self.values), _ARITY[self.operator]
        if not {_ONE: count == 1, _SOME: count > 0, _NONE: count == 0}[wanted]:
            raise ValueError(f"operator {self.operator!r} takes {wanted}, got {count}")
        problem = label_key_problem(self.key)
        for value in sorted(self.values):
            problem = problem or label_value_problem(self.key, value)
        if problem:
            raise ValueError(problem)

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator in ("exists", "!exists"):
            return (self.key in labels) == (self.operator == "exists")
        found = labels.get(self.key)  # None when absent, equal to no value: "!=", "notin" hold
        return (found in self.values) == (self.operator in ("=", "in"))

    def __str__(self) -> str:
        if self.operator in ("exists", "!exists"):
            return f"{'!' if self.operator == '!exists' else ''}{self.key}"
        if self.operator in ("=", "!="):
            return f"{self.key}{self.operator}{next(iter(self.values))}"
        listed = ",".join(sorted(self.values)) if self.values != {""} else ","
        return f"{self.key} {self.operator} ({listed})"


def _order(requirement: Requirement) -> tuple[str, int, tuple[str, ...]]:
    return requirement.key, _ORDER[requirement.operator], tuple(sorted(requirement.values))


@dataclass(frozen=True, slots=True)
class Selector:
    """Requirements that must all hold, kept sorted and without duplicates (so equal selectors
    are equal whatever the order they were written in); no requirements match everything."""

    requirements: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "requirements", tuple(sorted(set(self.requirements), key=_order)))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


class _Token(NamedTuple):
    kind: str  # "word", or the symbol itself: "=", "==", "!=", "!", "(", ")", ",", "<", ">"
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    """Words and symbols with their positions; spaces separate tokens and are dropped."""
    return [
        _Token(token if token in _SYMBOLS else "word", token, match.start())
        for match in _TOKEN.finditer(text)
        for token in [match.group()]
    ]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str, *kinds: str) -> _Token:
        token = self.peek()
        if token is None or token.kind not in kinds:
            self.fail(expected, token)
        self.index += 1
        return token

    def fail(self, expected: str, token: _Token | None) -> NoReturn:
        found = "the end of the text" if token is None else _shown(token.text)
        position = len(self.text) if token is None else token.position
        raise SelectorError(f"expected {expected} but found {found}", self.text, position)

    def at(self, *kinds: str | None) -> bool:
        """Whether the next token is of one of ``kinds`` (None: the end of the text)."""
        token = self.peek()
        return (None if token is None else token.kind) in kinds

    def word(self, expected: str, problem_of: Callable[[str], str | None]) -> str:
        token = self.take(expected, "word")
        problem = problem_of(token.text)
        if problem:
            raise SelectorError(problem, self.text, token.position)
        return token.text

    def requirement(self) -> Requirement:
        negated = self.at("!")
        self.index += negated
        key = self.word("a label key" + (" after '!'" if negated else ""), label_key_problem)
        if negated:
            if not self.at(None, ","):
                self.fail(f"',' or the end after '!{key}'", self.peek())
            return Requirement(key, "!exists")
        if self.at(None, ","):
            return Requirement(key, "exists")
        operators = f"'=', '==', '!=', 'in', 'notin', ',' or the end after {_shown(key)}"
        operator = self.take(operators, "=", "==", "!=", "word")
        value_of = partial(label_value_problem, key)
        if operator.kind != "word":
            value = "" if self.at(None, ",") else self.word("a label value", value_of)
            return Requirement(key, "!=" if operator.kind == "!=" else "=", frozenset([value]))
        if operator.text not in ("in", "notin"):
            self.fail(operators, operator)
        name: Operator = "in" if operator.text == "in" else "notin"
        self.take(f"'(' after {name!r}", "(")
        if self.at(")"):
            reason = f"the list of values after {name!r} must not be empty"
            raise SelectorError(reason, self.text, self.tokens[self.index].position)
        values: set[str] = set()
        while True:  # as in Kubernetes, a missing value ("(a,)", "(,a)") is the empty value
            given = self.at("word")
            values.add(self.word("a label value", value_of) if given else "")
            expected = "',' or ')'" if given else "a label value, ',' or ')'"
            if self.take(expected, ",", ")").kind == ")":
                return Requirement(key, name, frozenset(values))


def parse_selector(text: str) -> Selector:
    """The selector ``text`` stands for; raises SelectorError saying what is wrong and where."""
    if len(text) > MAX_SELECTOR_LENGTH:
        reason = f"must be at most {MAX_SELECTOR_LENGTH} characters, got {len(text)}"
        raise SelectorError(reason, text)
    for position, char in enumerate(text):
        if char < " " or "\x7f" <= char <= "\x9f":
            raise SelectorError(f"control character {char!r} is not allowed", text, position)
    parser = _Parser(text)
    if not parser.tokens:
        return Selector()
    requirements = [parser.requirement()]
    while parser.peek() is not None:
        parser.take("',' or the end", ",")
        requirements.append(parser.requirement())
    return Selector(tuple(requirements))
