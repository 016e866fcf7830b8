"""The run-search language parser: the AST it builds, and the errors users see."""

from __future__ import annotations

import pytest

from mlops.errors import InvalidFilterError, InvalidInputError
from mlops.experiments.filter import (
    And,
    Comparison,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)


def error(text: str) -> str:
    with pytest.raises(InvalidFilterError) as info:
        parse_filter(text)
    return str(info.value)


def caret_at(message: str, text: str, position: int) -> bool:
    """The message shows ``text`` with a caret under ``position``."""
    lines = message.splitlines()
    shown = lines.index("    " + text)
    return lines[shown + 1] == "    " + " " * position + "^"


# --- happy paths -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   \t\n"])
def test_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.f1 > 0.9", Comparison("metric", "f1", ">", 0.9)),
        ("metrics.f1 >= 1", Comparison("metric", "f1", ">=", 1.0)),
        ("metrics.loss < -1.5e-3", Comparison("metric", "loss", "<", -0.0015)),
        ("metrics.loss <= .5", Comparison("metric", "loss", "<=", 0.5)),
        ("metrics.acc = 1E2", Comparison("metric", "acc", "=", 100.0)),
        ("metrics.acc == 1", Comparison("metric", "acc", "=", 1.0)),
        ("metrics.acc != 1", Comparison("metric", "acc", "!=", 1.0)),
        ("metrics.acc <> 1", Comparison("metric", "acc", "!=", 1.0)),
        ("metrics.converged = TRUE", Comparison("metric", "converged", "=", 1.0)),
        ("metric.converged = false", Comparison("metric", "converged", "=", 0.0)),
        ("metrics.train/loss < 1", Comparison("metric", "train/loss", "<", 1.0)),
        ("metrics.`val loss` < 1", Comparison("metric", "val loss", "<", 1.0)),
        ("metrics.`val-loss` < 1", Comparison("metric", "val-loss", "<", 1.0)),
        ("metrics.f1 IN (0.8, 0.9)", Comparison("metric", "f1", "IN", (0.8, 0.9))),
        ("metrics.f1 not in (1)", Comparison("metric", "f1", "NOT IN", (1.0,))),
        ("metrics.f1 IS NULL", Comparison("metric", "f1", "IS NULL", None)),
        ("metrics.f1 is not null", Comparison("metric", "f1", "IS NOT NULL", None)),
        ("params.model = 'rf'", Comparison("param", "model", "=", "rf")),
        ('param.model = "rf"', Comparison("param", "model", "=", "rf")),
        ("params.\"lr.init\" = '0.1'", Comparison("param", "lr.init", "=", "0.1")),
        ("params.model != 'rf'", Comparison("param", "model", "!=", "rf")),
        ("params.model LIKE 'r%'", Comparison("param", "model", "LIKE", "r%")),
        ("params.model not ilike 'R%'", Comparison("param", "model", "NOT ILIKE", "R%")),
        ("params.model IN ('a', \"b\")", Comparison("param", "model", "IN", ("a", "b"))),
        ("params.depth IS NULL", Comparison("param", "depth", "IS NULL", None)),
        ("tags.note = 'it''s'", Comparison("tag", "note", "=", "it's")),
        ("tag.note = 'a\\'b\\\\c\\n'", Comparison("tag", "note", "=", "a'b\\c\n")),
        ("tags.note LIKE '50\\%'", Comparison("tag", "note", "LIKE", "50\\%")),
        ("status = 'finished'", Comparison("attribute", "status", "=", "FINISHED")),
        (
            "attributes.status IN ('Running', 'KILLED')",
            Comparison("attribute", "status", "IN", ("RUNNING", "KILLED")),
        ),
        ("name LIKE 'rf-%'", Comparison("attribute", "run_name", "LIKE", "rf-%")),
        ("attr.run_name = 'x'", Comparison("attribute", "run_name", "=", "x")),
        ("id = 'abc'", Comparison("attribute", "run_id", "=", "abc")),
        ("attribute.run_id = 'abc'", Comparison("attribute", "run_id", "=", "abc")),
        ("user = 'alice'", Comparison("attribute", "user", "=", "alice")),
        ("start_time >= 1.7e12", Comparison("attribute", "start_time", ">=", 1_700_000_000_000)),
        ("end_time IS NULL", Comparison("attribute", "end_time", "IS NULL", None)),
        ("experiment_id = 3", Comparison("attribute", "experiment_id", "=", 3)),
        ("experiment_id = '3'", Comparison("attribute", "experiment_id", "=", 3)),
        (
            "parent_run_id IS NOT NULL",
            Comparison("attribute", "parent_run_id", "IS NOT NULL", None),
        ),
        ("Metrics.f1 > 0 ", Comparison("metric", "f1", ">", 0.0)),
    ],
)
def test_comparison(text: str, expected: Comparison) -> None:
    assert parse_filter(text) == expected


def test_precedence_and_binds_tighter_than_or() -> None:
    a, b, c = (Comparison("metric", k, ">", 0.0) for k in "abc")
    assert parse_filter("metrics.a > 0 OR metrics.b > 0 AND metrics.c > 0") == Or((a, And((b, c))))
    assert parse_filter("(metrics.a > 0 OR metrics.b > 0) and metrics.c > 0") == And(
        (Or((a, b)), c)
    )


def test_not_and_chains() -> None:
    a, b, c = (Comparison("metric", k, ">", 0.0) for k in "abc")
    assert parse_filter("metrics.a > 0 AND metrics.b > 0 AND metrics.c > 0") == And((a, b, c))
    assert parse_filter("NOT metrics.a > 0 AND metrics.b > 0") == And((Not(a), b))
    assert parse_filter("not not (metrics.a > 0 or metrics.b > 0)") == Not(Not(Or((a, b))))
    assert parse_filter("((metrics.a>0))") == a


def test_order_by() -> None:
    assert parse_order_by(None) == []
    assert parse_order_by(
        [
            "metrics.f1 DESC",
            "params.alpha",
            "attributes.start_time ASC",
            "start_time desc",
            "tags.`team name` asc",
            "name",
        ]
    ) == [
        OrderKey("metric", "f1", descending=True),
        OrderKey("param", "alpha"),
        OrderKey("attribute", "start_time"),
        OrderKey("attribute", "start_time", descending=True),
        OrderKey("tag", "team name"),
        OrderKey("attribute", "run_name"),
    ]


# --- errors ------------------------------------------------------------------------------------


def test_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        parse_filter("metrics.f1")
    assert InvalidFilterError.status_code == 400


def test_missing_operator_shows_position_and_caret() -> None:
    message = error("metrics.f1 0.9")
    assert "expected a comparison operator after 'metrics.f1' at position 11" in message
    assert "found number 0.9" in message
    assert caret_at(message, "metrics.f1 0.9", 11)


def test_missing_operator_at_end() -> None:
    message = error("metrics.f1")
    assert "at position 10, found the end of the input" in message
    assert caret_at(message, "metrics.f1", 10)


def test_number_against_param_says_to_quote_it() -> None:
    message = error("params.n_estimators = 100")
    assert (
        "params.n_estimators = 100: parameter values are strings; write params.n_estimators = '100'"
    ) in message
    assert caret_at(message, "params.n_estimators = 100", 22)


def test_number_in_param_list_says_to_quote_it() -> None:
    message = error("params.k IN (1, 'b')")
    assert "write params.k IN ('1', 'b')" in message


def test_number_against_tag_and_text_attribute() -> None:
    assert "tag values are strings; write tags.epoch = '3'" in error("tags.epoch = 3")
    assert "'user' is text; write user = 'TRUE'" in error("user = TRUE")


def test_unknown_prefix_lists_valid_ones() -> None:
    message = error("metricz.f1 > 1")
    assert "unknown identifier prefix 'metricz.' at position 0" in message
    assert "metrics., params., tags. or attributes." in message


def test_unknown_bare_identifier_and_attribute() -> None:
    message = error("accuracy > 0.9")
    assert "unknown identifier 'accuracy' at position 0" in message
    assert "metrics.accuracy" in message
    assert "run_name, start_time, status" in message
    assert "unknown attribute 'owner'" in error("attributes.owner = 'x'")


def test_unquoted_name_with_dot_or_dash() -> None:
    message = error("params.lr.init = '0.1'")
    assert "name 'lr.init' contains '.' at position 9; quote it: params.`lr.init`" in message
    assert "quote it: metrics.`val-loss`" in error("metrics.val-loss < 1")


@pytest.mark.parametrize(
    ("text", "position", "quote"),
    [("tags.x = 'abc", 9, "'"), ('tags.x = "abc', 9, '"'), ("tags.x = 'a\\'", 9, "'")],
)
def test_unterminated_string(text: str, position: int, quote: str) -> None:
    message = error(text)
    assert f"unterminated string starting at position {position}; close it with {quote}" in message
    assert caret_at(message, text, position)


def test_unterminated_and_empty_names() -> None:
    assert "unterminated name starting at position 8; close it with `" in error("metrics.`a = 1")
    assert "empty name after 'metrics.' at position 8" in error("metrics.`` = 1")
    assert "expected a name after 'metrics.' at position 8" in error("metrics. = 1")


def test_trailing_garbage() -> None:
    message = error("metrics.f1 > 0.9 extra")
    assert "expected AND, OR or the end of the filter at position 17, found 'extra'" in message
    assert "unbalanced ')' at position 14" in error("metrics.f1 > 1)")


def test_unclosed_parenthesis() -> None:
    message = error("(metrics.f1 > 1")
    assert "expected ')' at position 15 to close the '(' at position 0" in message


def test_empty_in_list() -> None:
    message = error("params.m IN ()")
    assert "empty IN list at position 12; give at least one value" in message
    assert "expected ',' or ')' in the IN list" in error("params.m IN ('a' 'b')")
    assert "expected '(' after 'params.m IN'" in error("params.m IN 'a'")


def test_unquoted_text_value() -> None:
    message = error("params.model = rf")
    assert "expected a value (a number, a quoted string, TRUE or FALSE) after '='" in message
    assert "quote text values: 'rf'" in message


def test_metric_type_rules() -> None:
    assert "metric values are numbers, found string 'abc'" in error("metrics.f1 = 'abc'")
    assert "found string '0.5' at position 13; write 0.5" in error("metrics.f1 = '0.5'")
    message = error("metrics.f1 LIKE '0.%'")
    assert "metric values are numbers, so LIKE does not apply" in message


def test_param_ordering_comparison_is_refused() -> None:
    message = error("params.lr < '0.1'")
    assert "parameter values are strings, so < does not apply; use = != LIKE ILIKE IN" in message


def test_status_values() -> None:
    message = error("status = 'done'")
    assert "unknown run status 'done' at position 9" in message
    assert "RUNNING, FINISHED, FAILED, KILLED" in message
    assert "'status' is a run status, so LIKE does not apply" in error("status LIKE 'F%'")


def test_attribute_type_rules() -> None:
    assert "'start_time' is a number, found string 'x'" in error("start_time = 'x'")
    assert "'end_time' is a number, so LIKE does not apply" in error("end_time LIKE '1%'")
    assert "attribute 'status' is never null" in error("status IS NULL")


def test_is_and_not_need_their_partners() -> None:
    assert "expected NULL after 'params.a IS' at position 12" in error("params.a IS 'x'")
    assert "expected IN, LIKE or ILIKE after 'params.a NOT'" in error("params.a NOT = 'x'")


def test_like_pattern_ending_in_escape() -> None:
    assert "ends with the escape character" in error("params.p LIKE 'abc\\\\'")


def test_unexpected_character_hints() -> None:
    message = error("metrics.a > 1 && metrics.b > 1")
    assert "unexpected character '&' at position 14; write AND" in message
    assert "write OR" in error("metrics.a > 1 || metrics.b > 1")


def test_keyword_where_identifier_expected() -> None:
    assert "expected an identifier such as metrics.f1" in error("AND metrics.a > 1")
    assert "at position 16, found the end of the input" in error("metrics.a > 1 OR")


def test_deep_nesting_is_refused_not_a_crash() -> None:
    assert "nest at most 100 deep" in error("(" * 500 + "metrics.a > 1" + ")" * 500)


def test_caret_stays_aligned_with_tabs() -> None:
    message = error("metrics.a\t0")
    assert caret_at(message, "metrics.a 0", 10)


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("", "empty order_by clause"),
        ("metrics.f1 up", "expected ASC, DESC or the end after 'metrics.f1' at position 11"),
        ("metrics.f1 DESC x", "at position 16, found 'x'"),
        ("foo", "unknown identifier 'foo' at position 0"),
        ("metricz.f1", "unknown identifier prefix 'metricz.'"),
        ("params.`a", "unterminated name starting at position 7"),
    ],
)
def test_order_by_errors(clause: str, expected: str) -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_order_by(["start_time", clause])
    assert expected in str(info.value)
    assert str(info.value).startswith("invalid order_by clause:")
