"""The run-search language: a filter string and order-by clauses, parsed into a small AST.

The language is SQL-like so users can guess it, but it is parsed here, by hand, and never
pasted into SQL: the store compiles the AST with bound parameters. Grammar (keywords are
case-insensitive)::

    expr       := or_expr
    or_expr    := and_expr (OR and_expr)*
    and_expr   := not_expr (AND not_expr)*
    not_expr   := NOT not_expr | '(' expr ')' | comparison
    comparison := identifier op value
                | identifier [NOT] IN '(' value (',' value)* ')'
                | identifier IS [NOT] NULL
    identifier := metrics.NAME | params.NAME | tags.NAME | attributes.NAME | ATTRIBUTE
    op         := = == != <> < <= > >= [NOT] LIKE [NOT] ILIKE

``NAME`` is bare (letters, digits, ``_`` and ``/``) or quoted with backquotes or double quotes
when it holds dots, spaces or dashes: ``metrics.`val loss```, ``params."lr.init"``. Values are
numbers, quoted strings or TRUE/FALSE.

Types are checked at parse time, so a wrong filter fails with a hint instead of silently
matching nothing: metrics are numbers; params and tags are text (a number against a param is an
error telling the user to quote it); ``status`` is one of :data:`RUN_STATUSES`. Positions in
error messages are 0-based character offsets into the filter, with a caret under the spot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from mlops.errors import InvalidFilterError

Kind: TypeAlias = Literal["metric", "param", "tag", "attribute"]
Scalar: TypeAlias = str | int | float
Value: TypeAlias = Scalar | tuple[Scalar, ...] | None

RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")

# Every spelling users reach for, mapped to the one kind the store knows.
_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
}
_ATTRIBUTES = {
    "status": "status",
    "run_name": "run_name",
    "name": "run_name",
    "start_time": "start_time",
    "end_time": "end_time",
    "run_id": "run_id",
    "id": "run_id",
    "user": "user",
    "experiment_id": "experiment_id",
    "parent_run_id": "parent_run_id",
}
# attribute -> how its values are checked; the nullable ones may be tested with IS NULL.
_ATTRIBUTE_TYPES = {
    "status": "status",
    "run_name": "text",
    "run_id": "text",
    "user": "text",
    "parent_run_id": "text",
    "start_time": "number",
    "end_time": "number",
    "experiment_id": "number",
}
NULLABLE_ATTRIBUTES = frozenset({"end_time", "parent_run_id"})

_ORDERING = {"<", "<=", ">", ">="}
_LIKE = {"LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"}
_NULL = {"IS NULL", "IS NOT NULL"}
_LISTS = {"IN", "NOT IN"}
_OPERATORS = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "TRUE", "FALSE"}
_MAX_DEPTH = 100  # filters come from HTTP too; refuse nesting before Python's stack does
MAX_COMPARISONS = 100
"""Comparisons a filter may hold: each becomes a subquery, and SQLite refuses an expression
tree deeper than 1000 (a 2,000-term OR), which would otherwise surface as a database error."""
MAX_VALUES = 10_000
"""Values a filter may hold in all (IN lists included): each is a bound parameter, and
PostgreSQL takes at most 65,535 of them in one statement."""
MAX_ORDER_KEYS = 10
"""Order-by clauses a search may have: each metric key is a join, and SQLite 3.40 crashes the
process (a segfault) planning ~35 of them. Ten is far more than any ranking needs."""

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z0-9_/]+")
_DOTTED_NAME = re.compile(r"[A-Za-z0-9_/.\-]+")  # what a user meant by an unquoted name
_SYMBOL = re.compile(r"==|!=|<>|<=|>=|[=<>(),]")
_STRING_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True)
class Comparison:
    """One test of a run: ``kind.key op value``.

    ``op`` is normalized (``==`` becomes ``=``, ``<>`` becomes ``!=``); ``value`` is a float for
    metrics, a str for params and tags, a tuple for IN and None for IS NULL.
    """

    kind: Kind
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class And:
    """All of ``items`` hold."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """At least one of ``items`` holds."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    """``item`` does not hold (a run lacking the key matches ``NOT params.k = 'v'``)."""

    item: Expr


Expr: TypeAlias = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderKey:
    """One order-by key; runs lacking the key sort last in either direction."""

    kind: Kind
    key: str
    descending: bool = False


@dataclass(frozen=True)
class _Token:
    kind: Literal["ident", "word", "string", "number", "symbol", "end"]
    text: str  # as written, for messages
    pos: int
    value: str | int | float = ""  # unescaped string, parsed number, or an identifier's key
    prefix: Kind | None = None  # identifiers only

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the input"
        if self.kind in ("string", "number"):
            return f"{self.kind} {self.text}"
        return f"'{self.text}'"


def _fail(source: str, label: str, pos: int, message: str) -> InvalidFilterError:
    # Tabs and newlines would shift the caret; the filter is shown on one line.
    shown = re.sub(r"\s", " ", source)
    return InvalidFilterError(f"invalid {label}: {message}\n    {shown}\n    {' ' * pos}^")


class _Lexer:
    """Splits the input into tokens; identifiers (``prefix.NAME``) are one token."""

    def __init__(self, source: str, label: str) -> None:
        self.source = source
        self.label = label

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        pos = 0
        text = self.source
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos == len(text):
                out.append(_Token("end", "", pos))
                return out
            token = self._token(pos)
            out.append(token)
            pos = token.pos + len(token.text)

    def _token(self, pos: int) -> _Token:
        text = self.source
        char = text[pos]
        if char in "'\"":
            return self._string(pos)
        if match := _NUMBER.match(text, pos):
            number = match.group()
            is_int = not any(c in number for c in ".eE")
            value = int(number) if is_int else float(number)
            return _Token("number", number, pos, value)
        if match := _WORD.match(text, pos):
            end = match.end()
            if end < len(text) and text[end] == ".":
                return self._identifier(pos, match.group())
            return _Token("word", match.group(), pos)
        if match := _SYMBOL.match(text, pos):
            return _Token("symbol", match.group(), pos)
        hint = {"&": "; write AND", "|": "; write OR", "!": "; write NOT or !="}.get(char, "")
        raise self._fail(pos, f"unexpected character {char!r} at position {pos}{hint}")

    def _identifier(self, pos: int, prefix: str) -> _Token:
        kind = _PREFIXES.get(prefix.lower())
        if kind is None:
            raise self._fail(
                pos,
                f"unknown identifier prefix '{prefix}.' at position {pos}; "
                "use metrics., params., tags. or attributes.",
            )
        start = pos + len(prefix) + 1
        text = self.source
        if start < len(text) and text[start] in '`"':
            end, name = self._quoted(start, "name")
            if not name:
                raise self._fail(start, f"empty name after '{prefix}.' at position {start}")
            return _Token("ident", text[pos:end], pos, name, kind)
        match = _NAME.match(text, start)
        if match is None:
            found = f"{text[start]!r}" if start < len(text) else "the end of the input"
            raise self._fail(
                start, f"expected a name after '{prefix}.' at position {start}, found {found}"
            )
        end = match.end()
        # `params.lr.init` or `metrics.val-loss`: tell the user how to write it.
        if end + 1 < len(text) and text[end] in ".-" and _NAME.match(text, end + 1):
            whole = _DOTTED_NAME.match(text, start)
            assert whole is not None
            name = whole.group()
            raise self._fail(
                end,
                f"name '{name}' contains {text[end]!r} at position {end}; "
                f"quote it: {prefix}.`{name}`",
            )
        return _Token("ident", text[pos:end], pos, match.group(), kind)

    def _string(self, pos: int) -> _Token:
        end, value = self._quoted(pos, "string")
        return _Token("string", self.source[pos:end], pos, value)

    def _quoted(self, pos: int, what: str) -> tuple[int, str]:
        """Read a quoted run from ``pos``: backslash escapes, or the quote doubled SQL-style."""
        text = self.source
        quote = text[pos]
        chars: list[str] = []
        i = pos + 1
        while i < len(text):
            char = text[i]
            if char == quote:
                if i + 1 < len(text) and text[i + 1] == quote:
                    chars.append(quote)
                    i += 2
                    continue
                return i + 1, "".join(chars)
            if char == "\\" and i + 1 < len(text):
                nxt = text[i + 1]
                # Unknown escapes keep their backslash, so LIKE patterns can say '50\%'.
                chars.append(_STRING_ESCAPES.get(nxt, "\\" + nxt))
                i += 2
                continue
            chars.append(char)
            i += 1
        raise self._fail(
            pos, f"unterminated {what} starting at position {pos}; close it with {quote}"
        )

    def _fail(self, pos: int, message: str) -> InvalidFilterError:
        return _fail(self.source, self.label, pos, message)


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, source: str, label: str) -> None:
        self.source = source
        self.label = label
        self.tokens = _Lexer(source, label).tokens()
        self.index = 0
        self.depth = 0
        self.comparisons = 0
        self.values = 0

    # --- token helpers ------------------------------------------------------------------------

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.upper() in words

    def at_symbol(self, symbol: str) -> bool:
        token = self.peek()
        return token.kind == "symbol" and token.text == symbol

    def expected(self, what: str, hint: str = "") -> InvalidFilterError:
        token = self.peek()
        return self.fail(
            token.pos, f"{what} at position {token.pos}, found {token.describe()}{hint}"
        )

    def fail(self, pos: int, message: str) -> InvalidFilterError:
        return _fail(self.source, self.label, pos, message)

    # --- grammar ------------------------------------------------------------------------------

    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while self.at_word("OR"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Expr:
        items = [self.parse_not()]
        while self.at_word("AND"):
            self.advance()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Expr:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.expected(f"NOT and parentheses nest at most {_MAX_DEPTH} deep; stopped")
        try:
            if self.at_word("NOT"):
                self.advance()
                return Not(self.parse_not())
            if self.at_symbol("("):
                opening = self.advance()
                expr = self.parse_or()
                if not self.at_symbol(")"):
                    token = self.peek()
                    raise self.fail(
                        token.pos,
                        f"expected ')' at position {token.pos} to close the '(' at position "
                        f"{opening.pos}, found {token.describe()}",
                    )
                self.advance()
                return expr
            return self.parse_comparison()
        finally:
            self.depth -= 1

    def parse_identifier(self) -> tuple[Kind, str, _Token]:
        token = self.peek()
        if token.kind == "ident":
            assert token.prefix is not None
            self.advance()
            key = str(token.value)
            if token.prefix == "attribute":
                return "attribute", self.attribute(key, token), token
            return token.prefix, key, token
        if token.kind == "word" and token.text.lower() in _ATTRIBUTES:
            self.advance()
            return "attribute", _ATTRIBUTES[token.text.lower()], token
        if token.kind == "word" and token.text.upper() not in _KEYWORDS:
            raise self.fail(
                token.pos,
                f"unknown identifier '{token.text}' at position {token.pos}; write "
                f"metrics.{token.text}, params.{token.text} or tags.{token.text}, or use an "
                f"attribute: {', '.join(sorted(set(_ATTRIBUTES.values())))}",
            )
        raise self.expected("expected an identifier such as metrics.f1 or params.alpha")

    def attribute(self, name: str, token: _Token) -> str:
        canonical = _ATTRIBUTES.get(name.lower())
        if canonical is None:
            raise self.fail(
                token.pos,
                f"unknown attribute '{name}' at position {token.pos}; attributes are "
                f"{', '.join(sorted(set(_ATTRIBUTES.values())))}",
            )
        return canonical

    def parse_comparison(self) -> Comparison:
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.expected(
                f"a filter holds at most {MAX_COMPARISONS} comparisons (use IN for a list of "
                "values); stopped"
            )
        kind, key, ident = self.parse_identifier()
        token = self.peek()
        if self.at_word("IS"):
            self.advance()
            negated = self.at_word("NOT")
            if negated:
                self.advance()
            if not self.at_word("NULL"):
                raise self.expected(f"expected NULL after '{ident.text} IS'")
            self.advance()
            op = "IS NOT NULL" if negated else "IS NULL"
            return self.check(kind, key, ident, op, [])
        negated = self.at_word("NOT")
        if negated:
            self.advance()
            if not self.at_word("IN", "LIKE", "ILIKE"):
                raise self.expected(f"expected IN, LIKE or ILIKE after '{ident.text} NOT'")
        if self.at_word("IN"):
            self.advance()
            op = "NOT IN" if negated else "IN"
            return self.check(kind, key, ident, op, self.parse_list(f"{ident.text} {op}"))
        if self.at_word("LIKE", "ILIKE"):
            op = ("NOT " if negated else "") + self.advance().text.upper()
        elif token.kind == "symbol" and token.text in _OPERATORS:
            op = _OPERATORS[self.advance().text]
        else:
            raise self.expected(
                f"expected a comparison operator after '{ident.text}'",
                "; operators are = != < <= > >= LIKE ILIKE IN, IS NULL",
            )
        return self.check(kind, key, ident, op, [self.parse_value(op)])

    def parse_list(self, after: str) -> list[tuple[Scalar, _Token]]:
        if not self.at_symbol("("):
            raise self.expected(f"expected '(' after '{after}'")
        opening = self.advance()
        if self.at_symbol(")"):
            raise self.fail(
                opening.pos, f"empty IN list at position {opening.pos}; give at least one value"
            )
        items = [self.parse_value("IN")]
        while True:
            if self.at_symbol(","):
                self.advance()
                items.append(self.parse_value("IN"))
                continue
            if self.at_symbol(")"):
                self.advance()
                return items
            raise self.expected("expected ',' or ')' in the IN list")

    def parse_value(self, after: str) -> tuple[Scalar, _Token]:
        token = self.peek()
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.expected(f"a filter holds at most {MAX_VALUES} values; stopped")
        if token.kind in ("string", "number"):
            self.advance()
            return token.value, token
        if self.at_word("TRUE", "FALSE"):
            self.advance()
            return token.text.upper() == "TRUE", token
        hint = ""
        if token.kind in ("word", "ident"):
            hint = f"; quote text values: '{token.text}'"
        raise self.expected(
            f"expected a value (a number, a quoted string, TRUE or FALSE) after '{after}'", hint
        )

    # --- type rules ---------------------------------------------------------------------------

    def check(
        self, kind: Kind, key: str, ident: _Token, op: str, items: list[tuple[Scalar, _Token]]
    ) -> Comparison:
        """Apply the type rules of ``kind`` and normalize the values for the store."""
        end = self.tokens[self.index - 1]
        written = self.source[ident.pos : end.pos + len(end.text)]
        if op in _NULL:
            # IS NULL means "the run lacks the key"; only nullable attributes can lack one.
            if kind == "attribute" and key not in NULLABLE_ATTRIBUTES:
                raise self.fail(ident.pos, f"{written}: attribute '{key}' is never null")
            return Comparison(kind, key, op, None)
        values: list[Scalar]
        if kind == "metric":
            self.check_op(written, ident, op, "metric values are numbers", _LIKE)
            values = [self.metric_number(written, v, t) for v, t in items]
        elif kind in ("param", "tag"):
            why = f"{'parameter' if kind == 'param' else 'tag'} values are strings"
            self.check_op(written, ident, op, why, _ORDERING)
            values = self.texts(written, why, ident, op, items)
        else:
            values = self.attribute_values(written, key, ident, op, items)
        if op in _LIKE:
            self.check_like(str(values[0]), items[0][1])
        return Comparison(kind, key, op, tuple(values) if op in _LISTS else values[0])

    def attribute_values(
        self, written: str, key: str, ident: _Token, op: str, items: list[tuple[Scalar, _Token]]
    ) -> list[Scalar]:
        kind = _ATTRIBUTE_TYPES[key]
        if kind == "number":
            self.check_op(written, ident, op, f"'{key}' is a number", _LIKE)
            return [self.attribute_number(written, key, v, t) for v, t in items]
        if kind == "text":
            self.check_op(written, ident, op, f"'{key}' is text", _ORDERING)
            return self.texts(written, f"'{key}' is text", ident, op, items)
        why = "'status' is a run status"
        self.check_op(written, ident, op, why, _ORDERING | _LIKE)
        statuses = self.texts(written, why, ident, op, items)
        for status, (_, token) in zip(statuses, items, strict=True):
            if str(status).upper() not in RUN_STATUSES:
                raise self.fail(
                    token.pos,
                    f"{written}: unknown run status {token.text} at position {token.pos}; "
                    f"statuses are {', '.join(RUN_STATUSES)}",
                )
        return [str(status).upper() for status in statuses]

    def texts(
        self, written: str, why: str, ident: _Token, op: str, items: list[tuple[Scalar, _Token]]
    ) -> list[Scalar]:
        for value, token in items:
            if not isinstance(value, str):
                parts = [t.text if t.kind == "string" else f"'{t.text}'" for _, t in items]
                quoted = f"({', '.join(parts)})" if op in _LISTS else parts[0]
                raise self.fail(token.pos, f"{written}: {why}; write {ident.text} {op} {quoted}")
        return [value for value, _ in items]

    def check_op(self, written: str, ident: _Token, op: str, why: str, banned: set[str]) -> None:
        if op in banned:
            allowed = "= != < <= > >= IN" if op in _LIKE else "= != LIKE ILIKE IN"
            raise self.fail(
                ident.pos, f"{written}: {why}, so {op} does not apply; use {allowed} or IS NULL"
            )

    def metric_number(self, written: str, value: Scalar | None, token: _Token) -> float:
        if isinstance(value, bool | int | float):
            try:
                return float(value)
            except OverflowError:  # an integer literal beyond any float, like 1e400 is
                return math.inf if value > 0 else -math.inf
        try:
            number = float(str(value))
        except ValueError:
            number = None
        hint = f"; write {token.text[1:-1]}" if number is not None else ""
        raise self.fail(
            token.pos,
            f"{written}: metric values are numbers, found {token.describe()} at position "
            f"{token.pos}{hint}",
        )

    def attribute_number(
        self, written: str, key: str, value: Scalar | None, token: _Token
    ) -> int | float:
        if isinstance(value, bool):
            value = str(value)  # TRUE is not a time; fall through to the error
        elif isinstance(value, int | float):
            if isinstance(value, float) and not value.is_integer():
                return value  # also NaN and the infinities
            number = int(value)
            if not -(2**63) <= number < 2**63:
                raise self.fail(
                    token.pos,
                    f"{written}: {token.text} is out of range for '{key}', a 64-bit integer",
                )
            return number
        elif key == "experiment_id" and isinstance(value, str) and value.isdigit():
            return int(value)  # ids travel as strings in URLs and the UI
        raise self.fail(
            token.pos,
            f"{written}: '{key}' is a number, found {token.describe()} at position {token.pos}",
        )

    def check_like(self, pattern: str, token: _Token) -> None:
        # A pattern ending in the escape character is an error on PostgreSQL and a silent
        # no-match on SQLite; refuse it the same way everywhere.
        trailing = len(pattern) - len(pattern.rstrip("\\"))
        if trailing % 2:
            raise self.fail(
                token.pos,
                f"LIKE pattern {token.text} at position {token.pos} ends with the escape "
                "character \\; a literal backslash is \\\\ in the pattern, so '\\\\\\\\' in "
                "the quoted string",
            )


def parse_filter(text: str | None) -> Expr | None:
    """Parse a run filter such as ``metrics.f1 > 0.9 AND params.model = 'rf'``.

    Args:
        text: The filter; None, empty or blank means "every run".

    Returns:
        The expression tree, or None when there is nothing to filter on.

    Raises:
        InvalidFilterError: The filter does not parse, breaks a type rule or holds more than
            ``MAX_COMPARISONS`` comparisons or ``MAX_VALUES`` values; the message shows the
            filter with a caret at the position, what was expected and what was found.
    """
    if text is None or not text.strip():
        return None
    parser = _Parser(text, "filter")
    expr = parser.parse_or()
    if parser.peek().kind != "end":
        if parser.at_symbol(")"):
            pos = parser.peek().pos
            raise parser.fail(pos, f"unbalanced ')' at position {pos}; remove it or add a '('")
        raise parser.expected("expected AND, OR or the end of the filter")
    return expr


def parse_order_by(clauses: Sequence[str] | None) -> list[OrderKey]:
    """Parse order-by clauses such as ``["metrics.f1 DESC", "start_time"]``.

    Args:
        clauses: One key per clause, each optionally followed by ASC (the default) or DESC.

    Returns:
        The keys in priority order; empty when ``clauses`` is None or empty.

    Raises:
        InvalidFilterError: A clause is blank, names an unknown key or has trailing text, or
            there are more than ``MAX_ORDER_KEYS`` clauses.
    """
    if clauses is not None and len(clauses) > MAX_ORDER_KEYS:
        raise InvalidFilterError(
            f"invalid order_by: {len(clauses)} clauses; a search orders by at most "
            f"{MAX_ORDER_KEYS} keys"
        )
    keys: list[OrderKey] = []
    for clause in clauses or ():
        parser = _Parser(clause, "order_by clause")
        if parser.peek().kind == "end":
            raise parser.fail(0, "empty order_by clause; write e.g. 'metrics.f1 DESC'")
        kind, key, ident = parser.parse_identifier()
        descending = False
        if parser.at_word("ASC", "DESC"):
            descending = parser.advance().text.upper() == "DESC"
        if parser.peek().kind != "end":
            raise parser.expected(f"expected ASC, DESC or the end after '{ident.text}'")
        keys.append(OrderKey(kind, key, descending))
    return keys


__all__ = [
    "MAX_COMPARISONS",
    "MAX_ORDER_KEYS",
    "MAX_VALUES",
    "NULLABLE_ATTRIBUTES",
    "RUN_STATUSES",
    "And",
    "Comparison",
    "Expr",
    "Kind",
    "Not",
    "Or",
    "OrderKey",
    "Scalar",
    "Value",
    "parse_filter",
    "parse_order_by",
]
