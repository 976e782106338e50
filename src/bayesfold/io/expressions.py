"""Column expressions: features, weights and cuts defined on a sample's columns.

A config names each feature, weight and selection by an expression over the
columns (branches) of its input files: ``"x_reco"``, ``"sqrt(px**2 + py**2)"``,
``"pt > 20 and abs(eta) < 2.5"``. The expression is parsed once, when the config
is read, and evaluated element-wise on NumPy arrays. It is never handed to
:func:`eval`: a small interpreter walks the syntax tree and accepts only

- column names, and numbers and ``True``/``False`` as literals;
- arithmetic ``+ - * / // % **`` and unary ``-``/``+``;
- comparisons ``< <= > >= == !=``, chained as in ``-2 < eta < 2``;
- logic ``and or not`` and ``& | ~``, all element-wise;
- calls of the NumPy functions in :data:`FUNCTIONS`.

Attributes, subscripts, other calls, lambdas and comprehensions are rejected, so
a config cannot run code. A column whose name is not a Python identifier (a
ROOT branch ``"Jet.PT"``, say) is written between backticks: ```Jet.PT` > 20``.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesfold.exceptions import ExpressionError

__all__ = ["FUNCTIONS", "Expression", "parse_expression"]

#: Functions an expression may call, by the name it calls them with.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(np, name)
    for name in (
        "abs",
        "sqrt",
        "exp",
        "log",
        "log10",
        "sin",
        "cos",
        "tan",
        "arcsin",
        "arccos",
        "arctan",
        "arctan2",
        "sinh",
        "cosh",
        "tanh",
        "hypot",
        "minimum",
        "maximum",
        "where",
        "isfinite",
        "isnan",
    )
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
}

_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: np.logical_not,
    ast.Invert: operator.invert,
}

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}

_QUOTED = re.compile(r"`([^`]+)`")
_PLACEHOLDER = "__column_{}__"


@dataclass(frozen=True)
class Expression:
    """A parsed column expression.

    Attributes
    ----------
    text : str
        The expression as written.
    columns : tuple of str
        The column names it reads, in order of first use.
    """

    text: str
    columns: tuple[str, ...]
    _tree: ast.expr = field(repr=False, compare=False)
    _aliases: dict[str, str] = field(repr=False, compare=False)

    @property
    def is_column(self) -> bool:
        """Whether the expression is one bare column name."""
        return isinstance(self._tree, ast.Name)

    def evaluate(self, columns: Mapping[str, NDArray[Any]]) -> NDArray[Any]:
        """Evaluate element-wise on arrays of equal length, one per column.

        Floating-point warnings (division by zero, log of a negative number)
        are silenced: they give NaN or infinity, which the caller checks for
        among the selected events.
        """
        with np.errstate(all="ignore"):
            try:
                value = self._evaluate(self._tree, columns)
            except TypeError as error:
                raise ExpressionError(
                    f"expression {self.text!r} cannot be evaluated on these "
                    f"columns: {error}. The logical operators & | ~ need boolean "
                    "operands; compare first, as in (x > 0) & (y < 1)."
                ) from error
        return np.asarray(value)

    def _evaluate(self, node: ast.expr, columns: Mapping[str, NDArray[Any]]) -> Any:
        if isinstance(node, ast.Constant):
            # Numbers as float64: integer powers of Python ints could run
            # for ever (9**9**9); in floating point they overflow to inf.
            value: Any = node.value
            return value if isinstance(value, bool) else np.float64(value)
        if isinstance(node, ast.Name):
            return columns[self._aliases.get(node.id, node.id)]
        if isinstance(node, ast.BinOp):
            left = self._evaluate(node.left, columns)
            right = self._evaluate(node.right, columns)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._evaluate(node.operand, columns))
        if isinstance(node, ast.BoolOp):
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            values = [self._evaluate(value, columns) for value in node.values]
            result = values[0]
            for value in values[1:]:
                result = combine(result, value)
            return result
        if isinstance(node, ast.Compare):
            return self._compare(node, columns)
        assert isinstance(node, ast.Call)
        assert isinstance(node.func, ast.Name)
        arguments = [self._evaluate(argument, columns) for argument in node.args]
        return FUNCTIONS[node.func.id](*arguments)

    def _compare(
        self, node: ast.Compare, columns: Mapping[str, NDArray[Any]]
    ) -> NDArray[np.bool_]:
        # a < b < c means (a < b) and (b < c), element-wise.
        left = self._evaluate(node.left, columns)
        result: Any = True
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self._evaluate(comparator, columns)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return np.asarray(result)


def parse_expression(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`, or raise :class:`ExpressionError`.

    Examples
    --------
    >>> import numpy as np
    >>> cut = parse_expression("pt > 20 and abs(eta) < 2.5")
    >>> cut.columns
    ('pt', 'eta')
    >>> cut.evaluate({"pt": np.array([10.0, 30.0]), "eta": np.array([0.0, 1.0])})
    array([False,  True])
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(
            f"an expression must be a non-empty string; got {text!r}. Write a "
            "column name or an expression such as 'pt > 20'."
        )
    aliases: dict[str, str] = {}

    def alias(match: re.Match[str]) -> str:
        name = _PLACEHOLDER.format(len(aliases))
        aliases[name] = match.group(1)
        return name

    source = _QUOTED.sub(alias, text.strip())
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as error:
        raise ExpressionError(
            f"expression {text!r} is not valid syntax ({error.msg}). Write a "
            "column name or an expression such as 'pt > 20 and abs(eta) < 2.5'; "
            "quote column names with dots or spaces in backticks."
        ) from None

    columns: list[str] = []
    _collect(tree, text, aliases, columns)
    return Expression(text, tuple(columns), tree, aliases)


def _collect(
    node: ast.AST, text: str, aliases: dict[str, str], columns: list[str]
) -> None:
    """Check every node and list the columns read, left to right."""
    _check_node(node, text)
    if isinstance(node, ast.Name):
        column = aliases.get(node.id, node.id)
        if column not in columns:
            columns.append(column)
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(node, ast.Call) and child is node.func:
            continue
        _collect(child, text, aliases, columns)


def _check_node(node: ast.AST, text: str) -> None:
    allowed = (
        ast.Constant,
        ast.Name,
        ast.Load,
        ast.BinOp,
        ast.UnaryOp,
        ast.BoolOp,
        ast.Compare,
        ast.Call,
        ast.And,
        ast.Or,
        *_BINARY,
        *_UNARY,
        *_COMPARE,
    )
    if not isinstance(node, allowed):
        raise ExpressionError(
            f"expression {text!r} uses {type(node).__name__}, which column "
            "expressions do not allow. Use column names, numbers, arithmetic, "
            "comparisons, and/or/not and the functions "
            f"{', '.join(FUNCTIONS)}."
        )
    if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
        raise ExpressionError(
            f"expression {text!r} holds the literal {node.value!r}; only numbers "
            "and True/False are allowed. Column names are written bare, or in "
            "backticks when they hold dots or spaces."
        )
    if isinstance(node, ast.Call):
        _check_call(node, text)


def _check_call(node: ast.Call, text: str) -> None:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in FUNCTIONS or node.keywords:
        called = name or ast.unparse(node.func)
        raise ExpressionError(
            f"expression {text!r} calls {called!r}; only the functions "
            f"{', '.join(FUNCTIONS)} may be called, with positional arguments."
        )
