"""xrfast: AWS X-Ray segment documents, parsed and assembled into traces by a Rust core.

>>> import xrfast
>>> traces = xrfast.parse(open("segments.ndjson", "rb").read())   # doctest: +SKIP
>>> traces[0].to_dict()["Segments"][0]["Id"]                       # doctest: +SKIP

* :func:`parse` and :func:`read` take documents in any of the envelopes X-Ray uses (one
  document, daemon datagrams, NDJSON with or without daemon header lines, a JSON array, a
  ``PutTraceSegments`` body, a ``BatchGetTraces`` response; files plain or gzip) and return a
  :class:`TraceSet`.
* :class:`TraceAssembler` does the same for a stream: documents in any order, traces out as they
  complete, memory bounded by configurable limits with every drop counted.
* :class:`Trace` gives the rebuilt documents in X-Ray's ``BatchGetTraces`` shape, JSON made in
  Rust, and numpy columns.
* :func:`analyze` builds X-Ray's service graph (``GetServiceGraph``, ``GetTraceGraph``,
  ``GetTimeSeriesServiceStatistics``) with latency percentiles; an :class:`Analysis` merges.
* :func:`compile_filter` compiles an X-Ray filter expression into a :class:`Filter`, evaluated in
  Rust: ``matches(trace)``, ``select(traces)``.
"""

from xrfast._core import (
    Analysis,
    Filter,
    Trace,
    TraceAssembler,
    TraceSet,
    UnprocessedTraceSegment,
    __version__,
    analyze,
    compile_filter,
    parse,
    read,
)
from xrfast.exceptions import (
    FilterExpressionError,
    InputFormatError,
    SegmentDecodeError,
    SegmentValidationError,
    XRayError,
)

__all__ = [
    "Analysis",
    "Filter",
    "FilterExpressionError",
    "InputFormatError",
    "SegmentDecodeError",
    "SegmentValidationError",
    "Trace",
    "TraceAssembler",
    "TraceSet",
    "UnprocessedTraceSegment",
    "XRayError",
    "__version__",
    "analyze",
    "compile_filter",
    "parse",
    "read",
]
