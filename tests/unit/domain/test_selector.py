"""Label validation and label selectors: Kubernetes' rules and meaning, messages that say where.

Examples first (each operator, the Kubernetes edge cases, whitespace, refusals and their
messages), then properties: a selector's text form parses back to it, matching agrees with a
naive evaluator, and no text makes the parser raise anything but ``SelectorError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
from hypothesis import example
from hypothesis import given as for_all
from hypothesis import strategies as st

from coordinator.domain.selector import (
    MAX_LABELS,
    MAX_SELECTOR_LENGTH,
    Requirement,
    Selector,
    SelectorError,
    label_key_problem,
    label_value_problem,
    labels_problem,
    parse_selector,
)

LONGEST_PREFIX = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters


def refusal(text: str) -> SelectorError:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    return caught.value


# Label keys and values


@pytest.mark.parametrize(
    "key",
    [
        *["a", "Z", "9", "app", "App.Name_v-2", "a" * 63, "in", "notin"],
        *["example.com/app", "k8s.io/a", "a-1.b/c", "9/x", f"{LONGEST_PREFIX}/{'n' * 63}"],
    ],
)
def test_a_valid_label_key_has_no_problem(key: str) -> None:
    assert label_key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "label key '' must not be empty"),
        ("-app", "label key '-app' has a name that is not letters, digits, '-', '_' and '.', "),
        ("app-", "has a name that is not"),
        ("app_", "has a name that is not"),
        (".app", "has a name that is not"),
        ("my app", "has a name that is not"),
        ("café", "has a name that is not"),
        ("a" * 64, "has a name longer than 63 characters (64)"),
        ("a/b/c", "label key 'a/b/c' must have at most one '/'"),
        ("/app", "label key '/app' must not have an empty prefix before '/'"),
        ("example.com/", "label key 'example.com/' must not have an empty name after '/'"),
        ("Example.com/app", "label key 'Example.com/app' has a prefix that is not a DNS subdomain"),
        ("a..b/app", "has a prefix that is not a DNS subdomain"),
        ("-a.com/app", "has a prefix that is not a DNS subdomain"),
        ("a-.com/app", "has a prefix that is not a DNS subdomain"),
        ("a_b.com/app", "has a prefix that is not a DNS subdomain"),
        (f"x{LONGEST_PREFIX}/app", "has a prefix longer than 253 characters (254)"),
        ("example.com/-app", "has a name that is not"),
    ],
)
def test_an_invalid_label_key_is_named_with_the_rule_it_breaks(key: str, problem: str) -> None:
    message = label_key_problem(key)

    assert message is not None
    assert problem in message


@pytest.mark.parametrize("value", ["", "a", "prod", "v1.2_3-rc", "A" * 63, "in", "notin"])
def test_a_valid_label_value_has_no_problem(value: str) -> None:
    assert label_value_problem("env", value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("-prod", "label value '-prod' of key 'env' must be empty or letters, digits, '-', '_'"),
        ("prod.", "must be empty or letters"),
        ("a/b", "must be empty or letters"),
        ("a b", "must be empty or letters"),
        ("ünïcode", "must be empty or letters"),
        ("v" * 64, "label value 'vvvv"),
        ("v" * 64, "of key 'env' is longer than 63 characters (64)"),
    ],
)
def test_an_invalid_label_value_is_named_with_its_key_and_the_rule(
    value: str, problem: str
) -> None:
    message = label_value_problem("env", value)

    assert message is not None
    assert problem in message


def test_a_huge_key_or_value_is_shown_cut_short_in_the_message() -> None:
    huge = "-" * 10_000

    key_message = label_key_problem(huge)
    value_message = label_value_problem(huge, huge)

    assert key_message is not None
    assert value_message is not None
    assert "... (10000 characters)" in key_message
    assert len(key_message) < 250
    assert len(value_message) < 400


def test_labels_without_a_problem() -> None:
    assert labels_problem({}) is None
    assert labels_problem({"app": "web", "example.com/tier": "", "in": "notin"}) is None
    assert labels_problem({f"k{n}": "v" for n in range(MAX_LABELS)}) is None


def test_the_first_problem_of_labels_is_in_sorted_key_order() -> None:
    labels = {"zeta": "-bad", "-alpha": "ok", "beta": "bad-"}

    message = labels_problem(labels)

    assert message is not None
    assert message.startswith("label key '-alpha'")


def test_a_bad_value_in_labels_is_reported_with_its_key() -> None:
    assert labels_problem({"app": "web", "env": "pro d"}) == (
        "label value 'pro d' of key 'env' must be empty or letters, digits, '-', '_' and '.', "
        "starting and ending with a letter or digit"
    )


def test_too_many_labels_is_a_problem_before_any_other() -> None:
    labels = {f"-k{n}": "v" for n in range(MAX_LABELS + 1)}

    assert labels_problem(labels) == "at most 64 labels are allowed, got 65"
    assert labels_problem({"a": "1", "b": "2", "c": "3"}, max_labels=2) == (
        "at most 2 labels are allowed, got 3"
    )


# Selectors: each operator


WEB_PROD = {"app": "web", "env": "prod"}
WEB_STAGING = {"app": "web", "env": "staging"}
WEB_ONLY = {"app": "web"}
EMPTY_ENV = {"app": "web", "env": ""}


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("env=prod", WEB_PROD, True),
        ("env=prod", WEB_STAGING, False),
        ("env=prod", WEB_ONLY, False),
        ("env==prod", WEB_PROD, True),
        ("env==prod", WEB_STAGING, False),
        ("env!=prod", WEB_PROD, False),
        ("env!=prod", WEB_STAGING, True),
        ("env!=prod", WEB_ONLY, True),  # Kubernetes: != matches objects without the key
        ("env in (prod,staging)", WEB_PROD, True),
        ("env in (prod,staging)", WEB_STAGING, True),
        ("env in (prod,staging)", {"env": "dev"}, False),
        ("env in (prod,staging)", WEB_ONLY, False),  # in needs the key
        ("env notin (prod,staging)", WEB_PROD, False),
        ("env notin (prod,staging)", {"env": "dev"}, True),
        ("env notin (prod,staging)", WEB_ONLY, True),  # Kubernetes: notin matches without the key
        ("env", WEB_PROD, True),
        ("env", EMPTY_ENV, True),
        ("env", WEB_ONLY, False),
        ("!env", WEB_ONLY, True),
        ("!env", EMPTY_ENV, False),
        ("env=", EMPTY_ENV, True),
        ("env=", WEB_ONLY, False),
        ("env!=", EMPTY_ENV, False),
        ("env!=", WEB_ONLY, True),
        ("env in (prod,)", EMPTY_ENV, True),
        ("env notin (,)", EMPTY_ENV, False),
        ("app=web,env=prod", WEB_PROD, True),
        ("app=web,env=prod", WEB_STAGING, False),
        ("app=web,!env", WEB_ONLY, True),
        ("app=web,!env", WEB_PROD, False),
        ("", {}, True),
        ("", WEB_PROD, True),
        ("   ", WEB_PROD, True),
    ],
)
def test_a_selector_matches_labels_as_kubernetes_does(
    selector: str, labels: dict[str, str], matches: bool
) -> None:
    parsed = parse_selector(selector)

    assert parsed.matches(labels) is matches


def test_each_operator_parses_to_its_requirement() -> None:
    parsed = parse_selector("a=1,b==2,c!=3,d in (4,5),e notin (6),f,!g")

    assert parsed.requirements == (
        Requirement("a", "=", frozenset({"1"})),
        Requirement("b", "=", frozenset({"2"})),
        Requirement("c", "!=", frozenset({"3"})),
        Requirement("d", "in", frozenset({"4", "5"})),
        Requirement("e", "notin", frozenset({"6"})),
        Requirement("f", "exists", frozenset()),
        Requirement("g", "!exists", frozenset()),
    )


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("  env  =  prod  ", "env=prod"),
        ("env == prod", "env=prod"),
        ("env != prod", "env!=prod"),
        ("env in(b,a)", "env in (a,b)"),
        ("env   notin   (  b ,  a  ,b )", "env notin (a,b)"),
        (" ! env ", "!env"),
        ("  env  ", "env"),
        ("b=1 , a=2", "a=2,b=1"),
        ("a,a,a", "a"),
        ("env=", "env="),
        ("env in (a,)", "env in (,a)"),
        ("env in (,a,,b,)", "env in (,a,b)"),
        ("env in (,)", "env in (,)"),
        ("in=in", "in=in"),
        ("in in (in,notin)", "in in (in,notin)"),
        ("notin notin(notin)", "notin notin (notin)"),
        ("!in", "!in"),
        ("example.com/tier in (Back-End,front.end)", "example.com/tier in (Back-End,front.end)"),
    ],
)
def test_whitespace_spelling_and_order_do_not_change_the_canonical_text(
    text: str, canonical: str
) -> None:
    parsed = parse_selector(text)

    assert str(parsed) == canonical
    assert parse_selector(canonical) == parsed


def test_the_empty_selector_has_no_requirements_and_prints_empty() -> None:
    assert parse_selector("") == Selector()
    assert parse_selector("     ") == Selector(())
    assert str(Selector()) == ""


def test_selectors_are_equal_whatever_the_order_and_hashable() -> None:
    first = parse_selector("tier in (b,a),app=web,!legacy")
    second = parse_selector("!legacy , app==web , tier in (a,b,a)")

    assert first == second
    assert len({first, second}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.requirements = ()  # type: ignore[misc]


def test_a_selector_of_the_longest_allowed_text_parses() -> None:
    text = ",".join(["a"] * 2048) + " "

    assert len(text) == MAX_SELECTOR_LENGTH
    assert parse_selector(text) == parse_selector("a")


# Selectors: refusals and their messages


def test_an_unclosed_list_says_what_was_expected_where() -> None:
    error = refusal("env in (prod,staging")

    assert str(error) == (
        "labelSelector: expected ',' or ')' but found the end of the text "
        "at position 20 in 'env in (prod,staging'"
    )
    assert error.position == 20
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("text", "reason", "position"),
    [
        ("env in (prod staging)", "expected ',' or ')' but found 'staging'", 13),
        ("env in (prod,", "expected a label value, ',' or ')' but found the end of the text", 13),
        ("env in ()", "the list of values after 'in' must not be empty", 8),
        ("env notin ( )", "the list of values after 'notin' must not be empty", 12),
        ("env in prod", "expected '(' after 'in' but found 'prod'", 7),
        ("env in", "expected '(' after 'in' but found the end of the text", 6),
        ("env in (=)", "expected a label value, ',' or ')' but found '='", 8),
        ("env > 1", "expected '=', '==', '!=', 'in', 'notin', ',' or the end after 'env' but", 4),
        ("env < 1", "but found '<'", 4),
        ("env prod", "after 'env' but found 'prod'", 4),
        ("env IN (a)", "after 'env' but found 'IN'", 4),
        ("env=prod=x", "expected ',' or the end but found '='", 8),
        ("env=prod x", "expected ',' or the end but found 'x'", 9),
        ("env=(prod)", "expected a label value but found '('", 4),
        ("env=prod,", "expected a label key but found the end of the text", 9),
        (",env", "expected a label key but found ','", 0),
        ("a,,b", "expected a label key but found ','", 2),
        ("=prod", "expected a label key but found '='", 0),
        ("!", "expected a label key after '!' but found the end of the text", 1),
        ("!!env", "expected a label key after '!' but found '!'", 1),
        ("!env=prod", "expected ',' or the end after '!env' but found '='", 4),
        ("!env in (a)", "expected ',' or the end after '!env' but found 'in'", 5),
        ("env ! = prod", "but found '!'", 4),
        ("(env)", "expected a label key but found '('", 0),
    ],
)
def test_a_malformed_selector_is_refused_saying_what_was_expected_and_where(
    text: str, reason: str, position: int
) -> None:
    error = refusal(text)

    assert reason in str(error)
    assert error.position == position
    assert f"at position {position} in {text!r}" in str(error)
    assert str(error).startswith("labelSelector: ")


@pytest.mark.parametrize(
    ("text", "problem", "position"),
    [
        ("-env=prod", "label key '-env' has a name that is not", 0),
        ("app=web, Example.com/env", "label key 'Example.com/env' has a prefix that is not", 9),
        ("a/b/c", "label key 'a/b/c' must have at most one '/'", 0),
        ("!" + "k" * 64, "has a name longer than 63 characters (64)", 1),
        ("env=-prod", "label value '-prod' of key 'env' must be empty or letters", 4),
        ("env in (prod, st/aging)", "label value 'st/aging' of key 'env'", 14),
        ("env notin (" + "v" * 64 + ")", "is longer than 63 characters (64)", 11),
        ("env=caf\u00e9", "label value 'café' of key 'env'", 4),
        ("env\u00a0=prod", "label key 'env\\xa0' has a name that is not", 0),
    ],
)
def test_an_invalid_key_or_value_in_a_selector_is_refused_with_its_position(
    text: str, problem: str, position: int
) -> None:
    error = refusal(text)

    assert problem in str(error)
    assert f"at position {position} in " in str(error)
    assert error.position == position


@pytest.mark.parametrize(
    ("text", "shown", "position"),
    [
        ("env=prod\t", "'\\t'", 8),
        ("env\n=prod", "'\\n'", 3),
        ("\x00", "'\\x00'", 0),
        ("a,b\x7f", "'\\x7f'", 3),
        ("a\x85", "'\\x85'", 1),
        ("\r\n", "'\\r'", 0),
    ],
)
def test_control_characters_are_refused_even_tabs_and_newlines(
    text: str, shown: str, position: int
) -> None:
    error = refusal(text)

    assert f"control character {shown} is not allowed at position {position}" in str(error)


def test_a_selector_longer_than_the_limit_is_refused_without_being_read() -> None:
    error = refusal("a" * (MAX_SELECTOR_LENGTH + 1))

    assert str(error) == "labelSelector: must be at most 4096 characters, got 4097"
    assert error.position is None


def test_an_error_deep_in_a_long_selector_shows_only_the_text_near_it() -> None:
    text = "app=web," * 300 + "env in (prod" + ",x" * 100

    error = refusal(text)

    assert error.position == len(text)
    assert str(error).endswith(",x,x,x'")
    assert f"at position {len(text)} in ...',x,x" in str(error)
    assert len(str(error)) < 250


def test_pathological_texts_of_the_longest_length_are_refused_or_parsed() -> None:
    length = MAX_SELECTOR_LENGTH
    assert refusal("(" * length).position == 0
    assert refusal("!" * length).position == 1
    assert refusal("a=" * (length // 2)).position == 3
    assert refusal("a" * length).position == 0  # a 4096-character key
    assert parse_selector("a in (" + "," * (length - 7) + ")") == parse_selector("a in (,)")


# Requirements built directly


@pytest.mark.parametrize(
    ("key", "operator", "values", "problem"),
    [
        ("a", "=", frozenset(), "operator '=' takes exactly one value, got 0"),
        ("a", "!=", frozenset({"x", "y"}), "operator '!=' takes exactly one value, got 2"),
        ("a", "in", frozenset(), "operator 'in' takes at least one value, got 0"),
        ("a", "notin", frozenset(), "operator 'notin' takes at least one value, got 0"),
        ("a", "exists", frozenset({"x"}), "operator 'exists' takes no values, got 1"),
        ("a", "!exists", frozenset({""}), "operator '!exists' takes no values, got 1"),
        ("a", ">", frozenset({"1"}), "unknown selector operator '>'"),
        ("-a", "exists", frozenset(), "label key '-a' has a name that is not"),
        ("a", "in", frozenset({"ok", "-bad"}), "label value '-bad' of key 'a'"),
    ],
)
def test_a_requirement_refuses_values_its_operator_does_not_take(
    key: str, operator: str, values: frozenset[str], problem: str
) -> None:
    with pytest.raises(ValueError) as caught:
        Requirement(key, operator, values)  # type: ignore[arg-type]

    assert problem in str(caught.value)


def test_a_selector_built_directly_is_kept_in_canonical_order() -> None:
    built = Selector(
        (
            Requirement("b", "exists"),
            Requirement("a", "in", frozenset({"y", "x"})),
            Requirement("b", "exists"),
            Requirement("a", "=", frozenset({"z"})),
        )
    )

    assert str(built) == "a=z,a in (x,y),b"
    assert parse_selector(str(built)) == built


# Properties


NAMES = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", fullmatch=True)
DNS_LABELS = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
PREFIXES = st.lists(DNS_LABELS, min_size=1, max_size=4).map(".".join)
KEYWORDS = st.sampled_from(["in", "notin"])
KEYS = st.one_of(NAMES, st.tuples(PREFIXES, NAMES).map("/".join), KEYWORDS)
VALUES = st.one_of(st.just(""), NAMES, KEYWORDS)
FEW_KEYS = st.sampled_from(["app", "env", "example.com/tier", "in"])
FEW_VALUES = st.sampled_from(["", "web", "prod", "in", "Back-End"])
SPACES = st.sampled_from(["", " ", "   "])
OPERATORS = st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!exists"])

Plain = tuple[str, str, frozenset[str]]
"""A requirement as the reference evaluator sees it: key, operator, values."""


@st.composite
def written_requirements(
    draw: st.DrawFn, keys: st.SearchStrategy[str], values: st.SearchStrategy[str]
) -> tuple[str, Plain]:
    """A requirement's text, spelled and spaced in any of the accepted ways, and its meaning."""
    key, operator = draw(keys), draw(OPERATORS)
    before, after = draw(SPACES), draw(SPACES)
    if operator in ("exists", "!exists"):
        bang = "" if operator == "exists" else "!" + draw(SPACES)
        return f"{before}{bang}{key}{after}", (key, operator, frozenset())
    if operator in ("=", "==", "!="):
        value = draw(values)
        text = f"{before}{key}{draw(SPACES)}{operator}{draw(SPACES)}{value}{after}"
        return text, (key, "!=" if operator == "!=" else "=", frozenset({value}))
    listed = draw(st.lists(values, min_size=1, max_size=5).filter(lambda v: v != [""]))
    inside = ",".join(draw(SPACES) + value + draw(SPACES) for value in listed)
    text = f"{before}{key} {draw(SPACES)}{operator}{draw(SPACES)}({inside}){after}"
    return text, (key, operator, frozenset(listed))


@st.composite
def written_selectors(
    draw: st.DrawFn,
    keys: st.SearchStrategy[str] = KEYS,
    values: st.SearchStrategy[str] = VALUES,
) -> tuple[str, list[Plain]]:
    written = draw(st.lists(written_requirements(keys, values), max_size=6))
    return ",".join(text for text, _ in written), [plain for _, plain in written]


def reference_matches(requirements: list[Plain], labels: Mapping[str, str]) -> bool:
    """The meaning of a selector, spelled out case by case."""
    for key, operator, values in requirements:
        if operator == "exists" and key not in labels:
            return False
        if operator == "!exists" and key in labels:
            return False
        if operator in ("=", "in") and (key not in labels or labels[key] not in values):
            return False
        if operator in ("!=", "notin") and key in labels and labels[key] in values:
            return False
    return True


@for_all(written_selectors())
@example(("env in (,)", [("env", "in", frozenset({""}))]))
@example(("in in (in , notin,)", [("in", "in", frozenset({"in", "notin", ""}))]))
def test_a_selector_parses_to_what_was_written_and_its_text_parses_back(
    written: tuple[str, list[Plain]],
) -> None:
    text, plain = written

    parsed = parse_selector(text)

    expected = Selector(tuple(Requirement(*requirement) for requirement in plain))  # type: ignore[arg-type]
    assert parsed == expected
    assert parse_selector(str(parsed)) == parsed
    assert str(parse_selector(str(parsed))) == str(parsed)


@for_all(
    written_selectors(FEW_KEYS, FEW_VALUES),
    st.dictionaries(FEW_KEYS, FEW_VALUES),
)
def test_matching_agrees_with_a_naive_evaluator(
    written: tuple[str, list[Plain]], labels: dict[str, str]
) -> None:
    text, plain = written

    parsed = parse_selector(text)

    assert parsed.matches(labels) is reference_matches(plain, labels)
    assert parse_selector(str(parsed)).matches(labels) is parsed.matches(labels)


GRAMMAR_PIECES = st.sampled_from(
    [
        *["a", "Z9", "-", "_", ".", "/", " ", "=", "==", "!=", "!", "(", ")", ",", "in", "notin"],
        *["<", ">", "\t", "é", "\u00a0", "x" * 70],
    ]
)


@for_all(st.one_of(st.text(), st.lists(GRAMMAR_PIECES, max_size=30).map("".join)))
@example("x" * (MAX_SELECTOR_LENGTH + 1))
def test_any_text_parses_or_is_refused_with_a_selector_error(text: str) -> None:
    try:
        parsed = parse_selector(text)
    except SelectorError as error:
        assert str(error).startswith("labelSelector: ")
        assert error.position is None or 0 <= error.position <= len(text)
        assert len(str(error)) < 600
    else:
        assert parse_selector(str(parsed)) == parsed
