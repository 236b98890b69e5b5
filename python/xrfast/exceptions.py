"""The exceptions xrfast raises.

Every rejected document is described by an :class:`xrfast.UnprocessedTraceSegment` (index, id,
X-Ray error code, message, offset). With ``on_error="raise"`` the whole batch is still processed;
then the first rejection is raised, carrying all of them in ``errors``:

* :class:`SegmentDecodeError` — the document is not JSON. It is a :class:`json.JSONDecodeError`,
  so code that already catches JSON errors keeps working; ``doc`` and ``pos`` locate the problem.
* :class:`SegmentValidationError` — valid JSON that breaks X-Ray's schema (a :class:`ValueError`).
* :class:`InputFormatError` — the input as a whole is not in the expected format, e.g. a
  ``PutTraceSegments`` body without ``TraceSegmentDocuments``.

A filter expression that does not compile raises :class:`FilterExpressionError` (a
:class:`ValueError`) with its ``position``, what was ``expected`` there and what was ``found``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xrfast._core import UnprocessedTraceSegment

__all__ = [
    "FilterExpressionError",
    "InputFormatError",
    "SegmentDecodeError",
    "SegmentValidationError",
    "XRayError",
]


class XRayError(Exception):
    """Base class of every xrfast error."""

    #: Every document the call rejected (the first one is this exception's subject).
    errors: list[UnprocessedTraceSegment]
    #: Index of the first rejected document in the input.
    index: int | None
    #: Id of the (sub)segment at fault, when it could be read.
    segment_id: str | None
    #: X-Ray style error code, such as ``"InvalidTraceId"``.
    error_code: str | None
    #: Byte offset inside the document, when known.
    offset: int | None

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.errors = []
        self.index = self.segment_id = self.error_code = self.offset = None


class SegmentDecodeError(XRayError, json.JSONDecodeError):
    """A document is not valid JSON (also a :class:`json.JSONDecodeError`)."""

    def __init__(self, msg: str, doc: str, pos: int) -> None:
        json.JSONDecodeError.__init__(self, msg, doc, pos)
        self.errors = []
        self.index = self.segment_id = self.error_code = self.offset = None


class SegmentValidationError(XRayError, ValueError):
    """A document is JSON but not a valid X-Ray segment document."""


class InputFormatError(XRayError, ValueError):
    """The input as a whole is not in the format it claims or appears to be."""


class FilterExpressionError(XRayError, ValueError):
    """A filter expression (or an ``EntitySelectorExpression``) does not compile.

    X-Ray answers such an expression with ``InvalidRequestException`` (HTTP 400), which is this
    error's ``error_code``. The message names the position, what was expected and what was found,
    e.g. ``Invalid filter expression: expected a number at position 15, found "abc"``.
    """

    #: The expression that failed to compile.
    expression: str
    #: Position of the problem, in characters from 0 (``len(expression)`` for its end).
    position: int
    #: What the grammar allows at that position.
    expected: str
    #: What the expression has there.
    found: str

    def __init__(self, msg: str, expression: str, position: int, expected: str, found: str) -> None:
        super().__init__(msg)
        self.expression = expression
        self.position = position
        self.expected = expected
        self.found = found
        self.error_code = "InvalidRequestException"

    def caret(self) -> str:
        """The expression with a caret under the position, on two lines."""
        return f"{self.expression}\n{' ' * self.position}^"
