"""Type stubs for ``xrfast._core``, the compiled engine (``rust/xrfast-py``).

Hand-written and checked against the extension by ``python -m mypy.stubtest xrfast._core
--allowlist stubtest-allowlist.txt`` (run by ``tests/test_typing.py``). Import the public names from
:mod:`xrfast`; this module stays private.

Conventions shared by every entry point:

* **Options are keyword-only strings** (:data:`Format`, :data:`OnError`), checked once per call; a
  wrong name raises :class:`ValueError` listing the allowed values.
* **Inputs are borrowed when they cannot change:** ``bytes`` and ``str`` are read in place;
  ``bytearray``, ``memoryview`` and other buffers are copied first, because another thread could
  change them while the engine runs.
* **The GIL is released** for framing, parsing, assembly and for producing JSON and columns, so
  other Python threads run meanwhile.
* **A bad document never stops a batch.** It becomes an :class:`UnprocessedTraceSegment` (X-Ray's
  ``UnprocessedTraceSegments`` entry). ``on_error`` decides what the call does with them.
* **Limits bound memory and recursion;** every document they turn away is counted.
"""

import os
from collections.abc import Iterable, Iterator
from typing import Any, Final, Literal, TypedDict, TypeVar, final, type_check_only

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer, NotRequired, Self, TypeAlias

__all__ = [
    "Analysis",
    "ChunkReader",
    "DaemonSocket",
    "Filter",
    "Trace",
    "TraceAssembler",
    "TraceSet",
    "UnprocessedTraceSegment",
    "__version__",
    "analyze",
    "compile_filter",
    "parse",
    "parse_only",
    "read",
]

#: How documents are packed in an input (spec §2.2 and the X-Ray API):
#:
#: * ``"auto"`` — decided from the bytes: ``[`` → ``"array"``; an object whose first line is a
#:   complete JSON value followed by more lines → ``"ndjson"`` (this covers daemon datagrams and
#:   captures with header lines); an object with ``TraceSegmentDocuments`` or ``Traces`` → the API
#:   body; any other object → ``"document"``; empty or whitespace-only input → no documents.
#: * ``"document"`` — one segment, independent subsegment, or array of independent subsegments.
#: * ``"datagram"`` — one UDP datagram: ``{"format": "json", "version": 1}``, ``\n``, a document.
#: * ``"ndjson"`` — one document per line; daemon header lines between them are checked and
#:   skipped, and an invalid one rejects the document after it (``InvalidHeader``).
#: * ``"array"`` — a JSON array whose elements are documents.
#: * ``"put_trace_segments"`` — a ``PutTraceSegments`` request body,
#:   ``{"TraceSegmentDocuments": ["<document>", ...]}``.
#: * ``"batch_get_traces"`` — a ``BatchGetTraces`` response (``aws xray batch-get-traces``),
#:   ``{"Traces": [{"Segments": [{"Document": "<document>"}]}]}``.
Format: TypeAlias = Literal[
    "auto", "document", "datagram", "ndjson", "array", "put_trace_segments", "batch_get_traces"
]

#: What a call does with the documents it rejects:
#:
#: * ``"raise"`` — the whole batch is still processed (every valid document is kept), then the
#:   first rejection is raised as :class:`xrfast.SegmentDecodeError` (not JSON) or
#:   :class:`xrfast.SegmentValidationError` (JSON, but not a valid segment document), with all of
#:   them in its ``errors`` attribute.
#: * ``"skip"`` — rejected documents are dropped silently (an assembler still counts them).
#: * ``"collect"`` — rejected documents are returned (``TraceSet.errors``, or the return value of
#:   :meth:`TraceAssembler.add`).
OnError: TypeAlias = Literal["raise", "skip", "collect"]

#: The JSON parsers :func:`parse_only` can time.
_Parser: TypeAlias = Literal["sonic-rs", "sonic-rs-lazy", "simd-json", "serde_json"]

#: One piece of input: JSON text as ``str``, or UTF-8 bytes (gzip-compressed or not) in any buffer
#: of bytes.
_Chunk: TypeAlias = str | Buffer

# `list` is invariant, so `list[str | Buffer]` would reject the `list[bytes]` callers pass; a type
# variable bound to a chunk accepts a list of any one kind of chunk (or of a declared union).
_ChunkT = TypeVar("_ChunkT", bound=_Chunk)

#: What :func:`parse` and :meth:`TraceAssembler.add` accept: one chunk, or a list or tuple of
#: chunks (each framed on its own, documents numbered across all of them). Only ``list`` and
#: ``tuple`` are unpacked; any other iterable is a :class:`TypeError`.
_Source: TypeAlias = _Chunk | list[_ChunkT] | tuple[_Chunk, ...]

#: A file path.
_StrPath: TypeAlias = str | os.PathLike[str]

#: numpy columns, one array per name (see :meth:`Trace.columns`).
_Columns: TypeAlias = dict[str, npt.NDArray[Any]]

__version__: Final[str]
"""The version of the extension (the ``xrfast-py`` crate), e.g. ``"0.1.0"``."""

@type_check_only
class SegmentDict(TypedDict):
    """One entry of a trace's ``Segments`` (botocore shape ``Segment``)."""

    #: The segment id, 16 hex digits (for an inferred segment, its derived id).
    Id: str
    #: The rebuilt segment document, as a JSON string.
    Document: str

@type_check_only
class TraceDict(TypedDict):
    """A trace in X-Ray's ``BatchGetTraces`` shape (botocore shape ``Trace``)."""

    Id: str
    Duration: float
    LimitExceeded: bool
    Segments: list[SegmentDict]

@type_check_only
class TraceSetDict(TypedDict):
    """A ``BatchGetTraces`` response body without ``UnprocessedTraceIds``."""

    Traces: list[TraceDict]

@type_check_only
class ServiceIdDict(TypedDict):
    """A service node (botocore shape ``ServiceId``): ``Names`` is ``[Name]``; ``AccountId`` and
    ``Type`` are left out when unknown."""

    Name: str
    Names: list[str]
    AccountId: NotRequired[str]
    Type: NotRequired[str]

@type_check_only
class HttpDict(TypedDict, total=False):
    """The root segment's ``http`` (botocore shape ``Http``); unknown members are left out."""

    HttpURL: str
    HttpStatus: int
    HttpMethod: str
    UserAgent: str
    ClientIp: str

@type_check_only
class AnnotationValueDict(TypedDict, total=False):
    """Exactly one of the three members (botocore shape ``AnnotationValue``)."""

    NumberValue: float
    BooleanValue: bool
    StringValue: str

@type_check_only
class ValueWithServiceIdsDict(TypedDict):
    """One distinct value of an annotation and the services that recorded it."""

    AnnotationValue: AnnotationValueDict
    ServiceIds: list[ServiceIdDict]

@type_check_only
class TraceUserDict(TypedDict):
    """A ``user`` of the trace's segments and the services that carry it."""

    UserName: str
    ServiceIds: list[ServiceIdDict]

@type_check_only
class RootCauseExceptionDict(TypedDict, total=False):
    """An exception of the culprit: its ``type`` as ``Name``, its ``message`` as ``Message``."""

    Name: str
    Message: str

@type_check_only
class RootCauseEntityDict(TypedDict):
    """One entity of a root-cause path. Fault and error causes have ``Exceptions`` (empty except
    on the culprit); response-time causes have ``Coverage`` (the entity's duration over the
    root's response time)."""

    Name: str
    Exceptions: NotRequired[list[RootCauseExceptionDict]]
    Coverage: NotRequired[float]
    Remote: bool

@type_check_only
class RootCauseServiceDict(TypedDict):
    """A service on a root-cause path, with the entities walked inside it."""

    Name: str
    Names: list[str]
    Type: NotRequired[str]
    AccountId: NotRequired[str]
    EntityPath: list[RootCauseEntityDict]
    Inferred: bool

@type_check_only
class RootCauseDict(TypedDict):
    """A fault, error or response-time root cause: the services from the root to the culprit."""

    Services: list[RootCauseServiceDict]
    ClientImpacting: bool

@type_check_only
class TraceSummaryDict(TypedDict):
    """X-Ray's ``TraceSummary`` (botocore shape ``TraceSummary``, without ``MatchedEventTime``).

    ``StartTime``, ``Duration`` and ``ResponseTime`` are left out when unknown (no segment, no
    segment ended, no complete root); ``EntryPoint`` when there is no root. Collections are
    always present, empty when there is nothing.
    """

    Id: str
    StartTime: NotRequired[float]
    Duration: NotRequired[float]
    ResponseTime: NotRequired[float]
    HasFault: bool
    HasError: bool
    HasThrottle: bool
    IsPartial: bool
    Http: HttpDict
    Annotations: dict[str, list[ValueWithServiceIdsDict]]
    Users: list[TraceUserDict]
    ServiceIds: list[ServiceIdDict]
    ResourceARNs: list[dict[Literal["ARN"], str]]
    InstanceIds: list[dict[Literal["Id"], str]]
    AvailabilityZones: list[dict[Literal["Name"], str]]
    EntryPoint: NotRequired[ServiceIdDict]
    FaultRootCauses: list[RootCauseDict]
    ErrorRootCauses: list[RootCauseDict]
    ResponseTimeRootCauses: list[RootCauseDict]
    Revision: int

#: How a path compares with its entry point's usual path (see :meth:`TraceSet.paths`).
_PathKind: TypeAlias = Literal["usual", "truncated", "rare", "common"]

@type_check_only
class PathEdgeDict(TypedDict):
    """One call of a path: the caller's service node and the callee's (spec §5.2)."""

    Caller: ServiceIdDict
    Callee: ServiceIdDict

@type_check_only
class PathDict(TypedDict):
    """One path of an entry point and the traces that took it."""

    #: ``"usual"`` (the entry point's most common path), ``"truncated"`` (its edges are a strict
    #: subset of the usual path's), ``"rare"`` (neither, below ``rare_share``), ``"common"``.
    Kind: _PathKind
    Count: int
    #: ``Count`` over the entry point's traces.
    Share: float
    #: The path misses services the usual path reaches, yet some of its traces answered 2xx.
    Silent: bool
    #: The calls reached from the root, in call order (breadth first from the entry point).
    Edges: list[PathEdgeDict]
    #: Traced calls (``http.request.traced``) whose callee never sent a segment.
    Unreported: list[PathEdgeDict]
    #: Services the usual path reaches and this one does not, in the usual path's order.
    Missing: list[ServiceIdDict]
    #: Traces per class of the root's HTTP status: ``"none"``, ``"1xx"`` … ``"5xx"``,
    #: ``"other"``; only classes seen.
    HttpStatusClasses: dict[str, int]
    #: Traces whose root answered 2xx.
    OkCount: int
    #: The smallest ids of the traces that took the path (at most ``examples``).
    TraceIds: list[str]
    #: The smallest ids of those that answered 2xx (for a silent path: the vanished ones).
    OkTraceIds: list[str]

@type_check_only
class EntryPointPathsDict(TypedDict):
    """The paths of one entry point: the root's service, HTTP method and URL path template."""

    EntryPoint: ServiceIdDict
    HttpMethod: NotRequired[str]
    #: The path of the root's ``http.request.url``, identifier-like segments as ``{id}``.
    UrlPath: NotRequired[str]
    Count: int
    #: The usual path first, then by traces (most first).
    Paths: list[PathDict]

@type_check_only
class PathReportDict(TypedDict):
    """The path report of a set of traces (docs/decisions.md, "Path analysis")."""

    #: Most traces first.
    EntryPoints: list[EntryPointPathsDict]
    TracesProcessedCount: int
    #: Traces without a root: no entry point, no path.
    TracesWithoutRoot: int

@type_check_only
class UnprocessedTraceSegmentDict(TypedDict):
    """X-Ray's ``UnprocessedTraceSegment`` shape; ``Id`` is left out when no id could be read."""

    Id: NotRequired[str]
    ErrorCode: str
    Message: str

@type_check_only
class Counters(TypedDict):
    """What happened to every document and trace (see :attr:`TraceSet.stats`).

    ``documents_received == documents_accepted + documents_rejected + documents_dropped``: every
    document (an array document counts once per element) is stored, rejected with an
    :class:`UnprocessedTraceSegment`, or dropped because its trace reached a size limit.
    """

    documents_received: int
    documents_accepted: int
    documents_rejected: int
    documents_dropped: int
    #: Open traces emitted early because ``max_open_traces`` was reached.
    traces_evicted: int
    #: Traces handed out by ``parse``, ``read``, ``pop_complete`` or ``flush``.
    traces_emitted: int
    #: Emitted traces discarded because ``max_ready_traces`` waited uncollected.
    traces_dropped: int

@type_check_only
class AssemblerStats(Counters):
    """:class:`Counters` plus what a :class:`TraceAssembler` holds now (see its ``stats``)."""

    #: Traces open now.
    open_traces: int
    #: Segments and subsegments held by the open traces.
    buffered_segments: int
    #: Document bytes held by the open traces.
    buffered_bytes: int
    #: Memory held by the open traces (arenas, entity tables, indexes), in bytes.
    memory_bytes: int

def parse(
    source: _Source[_ChunkT],
    *,
    format: Format = "auto",
    on_error: OnError = "raise",
    max_segments_per_trace: int = 10000,
    max_trace_bytes: int = 512000,
    max_document_bytes: int = 65536,
    max_depth: int = 64,
    max_json_depth: int = 512,
    max_input_bytes: int = ...,
) -> TraceSet:
    """Parses segment documents and assembles every trace in them, complete or not.

    The GIL is released while the input is framed, parsed and assembled. ``bytes`` and ``str``
    are borrowed; ``bytearray``, ``memoryview`` and other buffers are copied before the GIL is
    released. Traces come out in the order their first document arrived.

    Arguments:
        source: JSON text (``str`` or bytes-like), or a list or tuple of them; each item is framed
            on its own (a list of datagrams, say), and documents are numbered across items. An
            item that starts with the gzip magic bytes is decompressed first, whole.
        format: how documents are packed (see :data:`Format`); ``"auto"`` by default.
        on_error: what to do with rejected documents (see :data:`OnError`); ``"raise"`` by
            default, which still processes the whole batch before raising the first rejection
            with all of them in ``errors``.
        max_segments_per_trace: most entities (segments and subsegments, nested ones included)
            kept per trace; a document that would go past it is dropped and the trace marked
            ``limit_exceeded``. Default 10,000.
        max_trace_bytes: most document bytes kept per trace (X-Ray's 500 KB trace limit); a
            document that would go past it is dropped and the trace marked ``limit_exceeded``.
            Default 512,000; must be below 2 GiB.
        max_document_bytes: largest document accepted, in bytes; a larger one is rejected with
            ``DocumentTooLarge``. Default 65,536 (X-Ray's 64 KB); must be below 2 GiB.
        max_depth: deepest nesting of subsegments accepted; deeper is ``NestingTooDeep``.
            Default 64, at most 1,000.
        max_json_depth: deepest nesting of JSON arrays and objects anywhere in a document (this
            keeps hostile input off the stack); deeper is ``NestingTooDeep``, and an envelope
            (``array``, ``put_trace_segments``, ``batch_get_traces``) nested deeper raises
            :class:`xrfast.InputFormatError`. Default 512, at most 1,000.
        max_input_bytes: largest input held whole in memory: an item that is gzip may not
            decompress to more (a few kilobytes can inflate to gigabytes), else
            :class:`xrfast.InputFormatError`. Default 1 GiB.

    Returns:
        The traces; with ``on_error="collect"``, ``errors`` holds the rejected documents.

    Raises:
        ValueError: ``format`` or ``on_error`` is not an allowed name, or a limit is out of range
            (zero, or above its maximum).
        OverflowError: a limit is negative.
        TypeError: ``source`` (or an item of it) is not ``str``, bytes-like, or a list or tuple
            of them.
        OSError: an item that starts like gzip is not valid gzip.
        xrfast.InputFormatError: the input as a whole is not in its format (e.g. a
            ``PutTraceSegments`` body without ``TraceSegmentDocuments``); raised whatever
            ``on_error`` says.
        xrfast.SegmentDecodeError: with ``on_error="raise"``, the first rejected document is not
            JSON (also a :class:`json.JSONDecodeError`).
        xrfast.SegmentValidationError: with ``on_error="raise"``, the first rejected document is
            JSON but not a valid segment document (also a :class:`ValueError`).
    """

def read(
    path: _StrPath,
    *,
    format: Format = "auto",
    on_error: OnError = "raise",
    chunk_size: int = ...,
    max_segments_per_trace: int = 10000,
    max_trace_bytes: int = 512000,
    max_document_bytes: int = 65536,
    max_depth: int = 64,
    max_json_depth: int = 512,
    max_input_bytes: int = ...,
) -> TraceSet:
    """Reads a file (plain or gzip, recognised by its magic bytes) and assembles its traces.

    Equivalent to :func:`parse` of the file's content, but NDJSON streams through in chunks, so
    a file larger than memory can be read. The GIL is released for the whole read. Documents are
    numbered across chunks.

    Arguments:
        path: the file.
        format: how documents are packed (see :data:`Format`); with ``"auto"`` it is decided from
            the first chunk.
        on_error: what to do with rejected documents (see :data:`OnError`); ``"raise"`` by
            default, which still reads the whole file before raising the first rejection with all
            of them in ``errors``.
        chunk_size: bytes read at a time, 4 MiB by default. NDJSON is cut at line boundaries;
            a line longer than a chunk makes that chunk longer, but only ``max_document_bytes``
            + 1 bytes of it are kept (it is rejected as ``DocumentTooLarge`` anyway). Other
            formats are one JSON value and are read whole.
        max_segments_per_trace: as for :func:`parse` (default 10,000).
        max_trace_bytes: as for :func:`parse` (default 512,000).
        max_document_bytes: as for :func:`parse` (default 65,536).
        max_depth: as for :func:`parse` (default 64, at most 1,000).
        max_json_depth: as for :func:`parse` (default 512, at most 1,000).
        max_input_bytes: largest file held whole: a file that is one JSON value (an array, an
            API body) may not be larger once decompressed (NDJSON streams in chunks and is not
            bounded by it), else :class:`xrfast.InputFormatError`. Default 1 GiB.

    Returns:
        The traces; with ``on_error="collect"``, ``errors`` holds the rejected documents.

    Raises:
        OSError: the file cannot be opened or read (e.g. :class:`FileNotFoundError`), or its gzip
            stream is corrupt.
        ValueError: ``format`` or ``on_error`` is not an allowed name, or a limit is out of range.
        OverflowError: a limit or ``chunk_size`` is negative.
        xrfast.InputFormatError: the content as a whole is not in its format.
        xrfast.SegmentDecodeError: with ``on_error="raise"``, the first rejected document is not
            JSON.
        xrfast.SegmentValidationError: with ``on_error="raise"``, the first rejected document is
            JSON but not a valid segment document.
    """

def parse_only(ndjson: bytes, parser: _Parser) -> tuple[int, int]:
    """Parses every non-blank line of ``ndjson`` with one JSON parser and does nothing else.

    The benchmark's baseline: what parsing alone costs on the same bytes. The GIL is released and
    ``ndjson`` is borrowed.

    Arguments:
        ndjson: newline-delimited JSON (``bytes`` only).
        parser: ``"sonic-rs"`` (into its DOM), ``"sonic-rs-lazy"`` (validates each line as an
            object without building anything), ``"simd-json"`` (into its borrowed DOM, from a
            copy of each line) or ``"serde_json"`` (into ``serde_json::Value``).

    Returns:
        ``(parsed, failed)``: how many lines parsed and how many did not.

    Raises:
        ValueError: ``parser`` is not one of the names above.
        TypeError: ``ndjson`` is not ``bytes``.
    """

@final
class UnprocessedTraceSegment:
    """One rejected document, named after X-Ray's ``UnprocessedTraceSegment``.

    Made by the engine only (it cannot be instantiated from Python); immutable. ``str()`` gives
    ``"document <index> (id <id>): <message>"``, the id part only when it is known.
    """

    @property
    def index(self) -> int:
        """Index of the document in the input (0-based, counting documents, not lines or bytes;
        an array document's elements share its index)."""

    @property
    def id(self) -> str | None:
        """The id of the (sub)segment at fault when it could be read (for an invalid nested
        subsegment, that subsegment's id, as X-Ray reports it), else ``None``."""

    @property
    def error_code(self) -> str:
        """The X-Ray style error code, such as ``"InvalidTraceId"``, ``"InvalidJson"``,
        ``"DocumentTooLarge"``, ``"NestingTooDeep"`` or ``"InvalidHeader"``."""

    @property
    def message(self) -> str:
        """The whole message, in X-Ray's shape: ``"Invalid segment. ErrorCode: <code>: <what>"``,
        followed by ``" (at byte N)"`` when the position is known."""

    @property
    def offset(self) -> int | None:
        """Byte offset inside the document where the problem is, when known."""

    def to_dict(self) -> UnprocessedTraceSegmentDict:
        """The X-Ray API shape.

        Returns:
            ``{"Id", "ErrorCode", "Message"}``; ``Id`` is left out when :attr:`id` is ``None``.
        """

@final
class Trace:
    """One assembled trace (docs/assembly.md). Immutable; made by the engine only.

    Documents are rebuilt lazily: each property that returns documents builds fresh Python
    objects on every access, so keep the result if you read it more than once.
    """

    @property
    def id(self) -> str:
        """The trace id, ``1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx``."""

    @property
    def root(self) -> dict[str, Any] | None:
        """The root segment's rebuilt document, or ``None`` when no segment qualifies.

        The root is the real segment with no ``parent_id``, or whose ``parent_id`` names no
        entity of the trace; among several, the earliest ``start_time``, then the smallest id.
        """

    @property
    def root_id(self) -> str | None:
        """The root segment's id, or ``None`` (see :attr:`root`)."""

    @property
    def segments(self) -> list[dict[str, Any]]:
        """Every segment document, real and inferred, sorted by ``start_time`` then id.

        Each real segment keeps its own members in their original order and values; its
        ``subsegments`` member holds the rebuilt tree of child subsegments (nested and
        independent), each list sorted by ``start_time`` then id. Orphan subsegments are left out.
        """

    @property
    def segment_ids(self) -> list[str]:
        """The ids of :attr:`segments`, in the same order."""

    @property
    def is_partial(self) -> bool:
        """True when an entity is in progress, a subsegment is orphaned, or a subsegment with
        ``http.request.traced: true`` has no downstream segment."""

    @property
    def limit_exceeded(self) -> bool:
        """True when documents were dropped because the trace reached ``max_trace_bytes`` or
        ``max_segments_per_trace``."""

    @property
    def duration(self) -> float:
        """Latest ``end_time`` of a complete segment (real or inferred) minus the earliest
        ``start_time`` of any segment, in seconds; ``0.0`` when no segment is complete."""

    @property
    def revision(self) -> int:
        """How many times a complete (sub)segment was replaced by another complete copy."""

    def cause(self, segment_id: str) -> dict[str, Any] | None:
        """The ``cause`` object of a (sub)segment, with references followed.

        A ``cause`` that is a string names an exception recorded elsewhere in the trace (spec
        §1.7); it is followed to the cause object whose ``exceptions`` hold that id.

        Arguments:
            segment_id: the id of any stored segment or subsegment, orphans included.

        Returns:
            The cause object (``{"working_directory", "paths", "exceptions"}``), or ``None`` when
            the entity is unknown, has no ``cause``, or its reference resolves to nothing.

        Raises:
            ValueError: ``segment_id`` is not 16 lowercase hex digits.
        """

    def documents(self) -> list[bytes]:
        """The text of every document the trace kept, in arrival order, orphans' documents and
        superseded copies included.

        Assembling them again (``parse(trace.documents(), format="document")``) gives the same
        trace, which is how a store merges a trace with documents that arrive after it was
        emitted.

        Returns:
            One ``bytes`` per document, as received.
        """

    def to_dict(self) -> TraceDict:
        """The ``BatchGetTraces`` ``Trace`` shape.

        The JSON is produced in Rust with the GIL released, then loaded with orjson.

        Returns:
            ``{"Id", "Duration", "LimitExceeded", "Segments": [{"Id", "Document"}]}``, each
            ``Document`` a JSON string.
        """

    def to_json(self) -> bytes:
        """:meth:`to_dict` as compact JSON bytes, produced in Rust with the GIL released.

        Returns:
            UTF-8 JSON of one ``Trace`` object.
        """

    def summary(self) -> TraceSummaryDict:
        """X-Ray's ``TraceSummary`` of the trace (spec §4; docs/decisions.md, "Summaries").

        Made in Rust with the GIL released, then loaded with orjson. ``HasFault`` and
        ``HasError`` come from the root segment, ``HasThrottle`` from any segment (real or
        inferred); ``Http`` and ``EntryPoint`` from the root; ``ServiceIds`` hold one entry per
        service node (a real segment's name, origin and ``aws.account_id``; an inferred AWS node
        named after its table, queue, function or bucket); ``Annotations`` keep the first 50 keys.
        Root causes walk the calls from the root: to the culprit of a fault or error (the child
        with the flag that ended last, each time), or into the child that took at least half of
        its parent's time.

        Returns:
            The summary; times and durations are floats, in seconds.
        """

    def columns(self) -> _Columns:
        """One numpy array per column, one row per segment, inferred segment and reachable
        subsegment (orphans have no row): first the segments in :attr:`segments` order, then the
        subsegments in arrival order.

        Returns:
            ``trace`` (uint32, always 0 here), ``id`` and ``parent_id`` (uint64, the ids as
            integers; ``parent_id`` 0 for none), ``kind`` (uint8: 0 segment, 1 subsegment,
            2 inferred segment), ``start``, ``end`` and ``duration`` (float64 seconds; ``end`` and
            ``duration`` are NaN while in progress), ``error``, ``throttle``, ``fault`` (bool).
        """

    def __len__(self) -> int:
        """The number of segments, real and inferred."""

@final
class TraceSet:
    """The traces from one call, with the documents that call rejected.

    A read-only sequence of :class:`Trace`: ``len``, indexing (negative indexes count from the
    end; slices are not supported) and iteration.
    """

    def __len__(self) -> int:
        """The number of traces."""

    def __getitem__(self, index: int, /) -> Trace:
        """The trace at ``index``.

        Raises:
            IndexError: ``index`` is out of range.
            TypeError: ``index`` is not an integer (slices are not supported).
        """

    def __iter__(self) -> Iterator[Trace]:
        """Iterates the traces in order."""

    @property
    def errors(self) -> list[UnprocessedTraceSegment]:
        """The rejected documents: filled when ``on_error="collect"``, otherwise empty (always
        empty for :meth:`TraceAssembler.pop_complete` and :meth:`TraceAssembler.flush`)."""

    @property
    def stats(self) -> Counters:
        """The document and trace counters of the call that made this set: of the whole
        :func:`parse` or :func:`read`, or, for a set from :meth:`TraceAssembler.pop_complete` or
        :meth:`TraceAssembler.flush`, of the assembler so far."""

    @property
    def ids(self) -> list[str]:
        """The trace ids, in order."""

    def to_json(self) -> bytes:
        """The ``BatchGetTraces`` response shape, ``{"Traces": [...]}``, as compact JSON bytes
        produced in Rust with the GIL released.

        Returns:
            UTF-8 JSON; ``xrfast.parse(result)`` reads it back (format ``"batch_get_traces"``).
        """

    def to_dict(self) -> TraceSetDict:
        """:meth:`to_json`, loaded: ``{"Traces": [...]}`` (see :meth:`Trace.to_dict`)."""

    def summaries(self) -> list[TraceSummaryDict]:
        """:meth:`Trace.summary` of every trace, in order (made in Rust with the GIL released,
        in parallel for large sets)."""

    def summaries_json(self) -> bytes:
        """The ``GetTraceSummaries`` result without its paging members,
        ``{"TraceSummaries": [...]}``, as compact JSON bytes made in Rust with the GIL released.

        Returns:
            UTF-8 JSON; ``TraceSummaries`` holds :meth:`summaries` in the same order.
        """

    def summaries_json_list(self) -> list[bytes]:
        """Each trace's :meth:`Trace.summary` as its own compact JSON bytes, in order (made in
        Rust with the GIL released, in parallel for large sets): for stores that keep one
        summary per row, without a Python dict per summary."""

    def paths(self, *, examples: int = 5, rare_share: float = 0.05) -> PathReportDict:
        """The traces grouped by the path they took, per entry point, with rare and truncated
        paths picked out (beyond X-Ray; docs/decisions.md, "Path analysis").

        A trace's path is the set of calls (caller service → callee service, nodes as in
        ``ServiceIds``) reached from its root, plus its traced calls whose callee never reported.
        Traces are grouped by entry point (the root's service, HTTP method and URL path
        template, e.g. ``POST /checkout``); the most common path is the usual one, and each path
        says which of the usual path's services it missed. Made in Rust with the GIL released,
        in parallel for large sets; the result does not depend on the order of the traces.

        Arguments:
            examples: trace ids kept per path (the smallest ids, so the choice is deterministic).
            rare_share: below this share of its entry point's traces, a path that is neither
                usual nor truncated is ``"rare"`` (else ``"common"``).

        Returns:
            ``{"EntryPoints": [...], "TracesProcessedCount", "TracesWithoutRoot"}``.

        Raises:
            ValueError: ``rare_share`` is not within [0, 1].
            OverflowError: ``examples`` is negative.
        """

    def paths_json(self, *, examples: int = 5, rare_share: float = 0.05) -> bytes:
        """:meth:`paths` as compact JSON bytes made in Rust."""

    def columns(self) -> _Columns:
        """:meth:`Trace.columns` over every trace, concatenated (built with the GIL released).

        Returns:
            The same columns; ``trace`` is the index of the row's trace in this set.
        """

    def summary_columns(self) -> dict[str, Any]:
        """One row per trace: what tail sampling reads from each :meth:`summaries` entry, as
        numpy columns (built in Rust with the GIL released; root causes are not computed).

        Strings are categorical: an int32 code per trace (-1 when the trace has none) into a
        list of the distinct values, so a regular expression runs once per distinct value.

        Returns:
            ``id_high``, ``id_low`` (uint64: the trace id as a 128-bit integer, epoch second in
            the top 32 bits of ``id_high``), ``start``, ``duration``, ``response_time`` (float64
            seconds: ``StartTime``, ``Duration``, ``ResponseTime``; NaN where the summary leaves
            them out), ``has_fault``, ``has_error``, ``has_throttle``, ``is_partial`` (bool),
            ``http_status`` (int64, ``Http.HttpStatus``, 0 when absent), and the categorical
            ``service`` / ``service_values`` (the root's service name, ``EntryPoint.Name``),
            ``url`` / ``url_values`` (``Http.HttpURL``), ``method`` / ``method_values``
            (``Http.HttpMethod``).
        """

    def service_columns(self) -> dict[str, Any]:
        """One row per segment, real or inferred (the service graph's nodes, spec §5.2), each
        trace's in :attr:`Trace.segments` order.

        Returns:
            ``trace`` (uint32 index into this set), ``service`` (int32 code) and
            ``service_values`` (the distinct nodes as ``ServiceId`` dicts), ``root`` (bool: the
            trace's root segment), ``fault``, ``error``, ``throttle`` (bool: the segment's flags;
            an inferred segment's are its subsegment's), ``http_status`` (int64, 0 when none),
            ``duration`` (float64 seconds, NaN while in progress).
        """

    def annotation_column(self, key: str) -> dict[str, Any]:
        """The values of annotation ``key``: one row per distinct value a trace's summary lists
        under ``Annotations[key]`` (so a trace has zero or more rows).

        Arguments:
            key: the annotation key.

        Returns:
            ``trace`` (uint32 index into this set), ``kind`` (uint8: 0 number, 1 boolean,
            2 string), ``number`` (float64, NaN unless a number), ``boolean`` (bool, false unless
            a boolean), ``string`` (int32 code, -1 unless a string) and ``string_values``.
        """

    def path_column(self) -> dict[str, Any]:
        """The path each trace took (docs/decisions.md, "Path analysis").

        Returns:
            ``path`` (int32 code per trace, -1 for a trace without a root) and ``path_values``:
            the distinct paths as ``{"EntryPoint", "HttpMethod"?, "UrlPath"?, "Edges",
            "Unreported"}`` with the members and edge order of :meth:`paths`.
        """

@final
class TraceAssembler:
    """Assembles documents into traces as they stream in, with bounded memory.

    Documents may arrive in any order and interleaved across traces. A trace is emitted by
    :meth:`pop_complete` once it is complete (a root exists, nothing is in progress, orphaned or
    waiting for a traced callee) and no document has arrived for it for ``idle_timeout`` seconds,
    or, incomplete, after ``incomplete_timeout`` seconds; :meth:`flush` emits everything. A
    document for a trace already emitted starts a new trace with the same id. Every document is
    counted once as accepted, rejected or dropped (see :attr:`stats`). Safe to share between
    threads: calls are serialised by a lock and release the GIL while they work.

    Arguments:
        idle_timeout: seconds without a new document after which a complete trace is emitted.
            Default 5.0.
        incomplete_timeout: seconds without a new document after which an incomplete trace is
            emitted as partial. Default 60.0; raised to ``idle_timeout`` if smaller.
        max_open_traces: most traces held open; when a new trace arrives at the limit, the oldest
            open trace (by first arrival) is evicted: emitted early, as it is, by the next
            :meth:`pop_complete` or :meth:`flush`, and counted in ``traces_evicted``.
            Default 100,000.
        max_segments_per_trace: most entities kept per trace; past it documents are dropped
            (``documents_dropped``) and the trace marked ``limit_exceeded``. Default 10,000.
        max_trace_bytes: most document bytes kept per trace; past it documents are dropped and
            the trace marked ``limit_exceeded``. Default 512,000; must be below 2 GiB.
        max_ready_traces: most emitted traces waiting to be collected by :meth:`pop_complete`;
            past it the oldest waiting trace is discarded and counted in ``traces_dropped``.
            Default 100,000.
        max_document_bytes: largest document accepted (``DocumentTooLarge`` beyond).
            Default 65,536; must be below 2 GiB.
        max_depth: deepest nesting of subsegments (``NestingTooDeep`` beyond). Default 64, at
            most 1,000.
        max_json_depth: deepest JSON nesting in a document (``NestingTooDeep`` beyond).
        max_input_bytes: as for :func:`parse`: the decompressed size of an added gzip item.
            Default 512, at most 1,000.

    Raises:
        ValueError: a limit is zero or above its maximum, or a timeout is negative or not finite.
        OverflowError: a limit is negative.
    """

    def __new__(
        cls,
        *,
        idle_timeout: float = 5.0,
        incomplete_timeout: float = 60.0,
        max_open_traces: int = 100000,
        max_segments_per_trace: int = 10000,
        max_trace_bytes: int = 512000,
        max_ready_traces: int = 100000,
        max_document_bytes: int = 65536,
        max_depth: int = 64,
        max_json_depth: int = 512,
        max_input_bytes: int = ...,
    ) -> Self: ...
    def add(
        self,
        source: _Source[_ChunkT],
        *,
        now: float | None = None,
        format: Format = "auto",
        on_error: OnError = "raise",
    ) -> list[UnprocessedTraceSegment]:
        """Adds documents. The GIL is released while they are framed, parsed and stored.

        ``bytes`` and ``str`` are borrowed; other buffers are copied first.

        Arguments:
            source: as for :func:`parse`.
            now: the arrival time, in epoch seconds; the wall clock (``time.time()``) when
                ``None``. Pass it to replay a recording, or to drive the assembler with virtual
                time in tests.
            format: how documents are packed (see :data:`Format`).
            on_error: what to do with rejected documents (see :data:`OnError`); with
                ``"raise"`` every valid document of the batch is still stored before the first
                rejection is raised with all of them in ``errors``.

        Returns:
            The rejected documents with ``on_error="collect"``, else an empty list.

        Raises:
            ValueError: ``format`` or ``on_error`` is not an allowed name.
            TypeError: ``source`` is not ``str``, bytes-like, or a list or tuple of them.
            OSError: an item that starts like gzip is not valid gzip.
            xrfast.InputFormatError: the input as a whole is not in its format (nothing added).
            xrfast.SegmentDecodeError: with ``on_error="raise"``, the first rejected document is
                not JSON.
            xrfast.SegmentValidationError: with ``on_error="raise"``, the first rejected
                document is JSON but not a valid segment document.
        """

    def pop_complete(self, now: float | None = None) -> TraceSet:
        """Emits the traces that are due, plus any evicted since the last call; oldest first.

        The GIL is released while traces are built.

        Arguments:
            now: the current time, in epoch seconds, on the same clock as :meth:`add`'s ``now``;
                the wall clock when ``None``. :attr:`event_time` is the clock of a replayed
                stream.

        Returns:
            Complete traces idle for ``idle_timeout`` seconds, incomplete ones (partial) idle for
            ``incomplete_timeout`` seconds, and evicted ones; ``errors`` is empty.
        """

    def flush(self) -> TraceSet:
        """Emits every trace, complete or not; the assembler holds no trace afterwards.

        The GIL is released while traces are built.

        Returns:
            Every open trace (oldest first) after any already waiting; ``errors`` is empty.
        """

    @property
    def stats(self) -> AssemblerStats:
        """A snapshot of the counters since the assembler was made (see :class:`Counters`).

        ``open_traces``, ``buffered_segments``, ``buffered_bytes`` and ``memory_bytes`` describe
        the open traces now; emitted traces waiting for :meth:`pop_complete` are not included.
        """

    @property
    def event_time(self) -> float:
        """The latest start or end time of any accepted entity (0.0 before any): the clock of a
        replayed stream, for ``pop_complete(now=assembler.event_time)``."""

    @property
    def open_traces(self) -> int:
        """The number of traces open now."""

@final
class ChunkReader:
    """Iterates a file (plain or gzip) as ``bytes`` chunks that each hold whole documents.

    What :func:`read` uses; exposed for the benchmark runner. NDJSON is cut at line boundaries
    into chunks of about ``chunk_size`` bytes; a line longer than a chunk makes that chunk longer,
    but only its first 65,537 bytes are kept (one more than a document may have, so the line is
    still rejected as ``DocumentTooLarge``). Any other format is returned as one chunk. The GIL
    is released while reading.

    Arguments:
        path: the file.
        format: how documents are packed (see :data:`Format`); with ``"auto"`` it is decided
            from the first chunk.
        chunk_size: bytes per chunk, 4 MiB by default.
        max_input_bytes: largest one-value file returned whole (see :func:`read`); past it,
            iterating raises :class:`xrfast.InputFormatError`.

    Raises:
        OSError: the file cannot be opened.
        ValueError: ``format`` is not an allowed name.
    """

    def __new__(
        cls,
        path: _StrPath,
        *,
        format: Format = "auto",
        chunk_size: int = ...,
        max_input_bytes: int = ...,
    ) -> Self: ...
    @property
    def format(self) -> Format:
        """The format in force: ``"auto"`` until the first chunk has been read, when asked to
        detect it."""

    def __iter__(self) -> Self:
        """The reader itself."""

    def __next__(self) -> bytes:
        """The next chunk.

        Raises:
            StopIteration: the file is exhausted.
            OSError: reading failed (or the gzip stream is corrupt).
        """

# --- the service graph (spec §5; docs/decisions.md, "Service graph") ---------------------------

@type_check_only
class HistogramEntryDict(TypedDict):
    """botocore's ``HistogramEntry``: a response time in seconds, rounded to milliseconds, and
    how many requests took it."""

    Value: float
    Count: int

@type_check_only
class ErrorStatisticsDict(TypedDict):
    """4xx requests: ``ThrottleCount`` (throttled or 429) and ``OtherCount``."""

    ThrottleCount: int
    OtherCount: int
    TotalCount: int

@type_check_only
class FaultStatisticsDict(TypedDict):
    """5xx requests (``OtherCount`` equals ``TotalCount``: no 5xx class is tracked apart)."""

    OtherCount: int
    TotalCount: int

@type_check_only
class SummaryStatisticsDict(TypedDict):
    """botocore's ``ServiceStatistics`` / ``EdgeStatistics`` of completed requests:
    ``TotalCount == OkCount + ErrorStatistics.TotalCount + FaultStatistics.TotalCount``."""

    OkCount: int
    ErrorStatistics: ErrorStatisticsDict
    FaultStatistics: FaultStatisticsDict
    TotalCount: int
    #: Seconds, summed over the completed requests.
    TotalResponseTime: float

@type_check_only
class EdgeDict(TypedDict):
    """An outgoing edge of a node (botocore's ``Edge``): a call, measured by the caller, or a
    link (``EdgeType: "link"``) from an SQS queue to a consumer of its messages."""

    #: The callee's (for a link, the consumer's) ``ReferenceId``.
    ReferenceId: int
    StartTime: NotRequired[float]
    EndTime: NotRequired[float]
    #: For a link: consumers classified by their own outcome; ``TotalResponseTime`` sums the
    #: events' ages.
    SummaryStatistics: SummaryStatisticsDict
    #: Calls only.
    ResponseTimeHistogram: NotRequired[list[HistogramEntryDict]]
    #: Always empty (spec §10 Q10).
    Aliases: list[Any]
    #: ``"link"`` for a link; absent for a call.
    EdgeType: NotRequired[Literal["link"]]
    #: Links only: consumer start − producer start, in seconds (at least 0).
    ReceivedEventAgeHistogram: NotRequired[list[HistogramEntryDict]]

@type_check_only
class ServiceDict(TypedDict):
    """A node of the graph (botocore's ``Service``). A ``client`` node has no ``Root``,
    ``SummaryStatistics`` or histograms."""

    #: The node's position in ``Services`` (nodes are sorted by name, type, account).
    ReferenceId: int
    Name: str
    Names: list[str]
    Root: NotRequired[bool]
    AccountId: NotRequired[str]
    Type: NotRequired[str]
    #: ``"active"`` when the node sends segments, else ``"unknown"``.
    State: str
    StartTime: NotRequired[float]
    EndTime: NotRequired[float]
    Edges: list[EdgeDict]
    SummaryStatistics: NotRequired[SummaryStatisticsDict]
    DurationHistogram: NotRequired[list[HistogramEntryDict]]
    ResponseTimeHistogram: NotRequired[list[HistogramEntryDict]]

@type_check_only
class ServiceGraphDict(TypedDict):
    """The ``GetServiceGraph`` response (without paging). ``StartTime``/``EndTime`` are the
    window, or the graph's extent without one (left out for an empty graph)."""

    StartTime: NotRequired[float]
    EndTime: NotRequired[float]
    Services: list[ServiceDict]
    ContainsOldGroupVersions: bool

@type_check_only
class TraceGraphDict(TypedDict):
    """The ``GetTraceGraph`` response (without paging)."""

    Services: list[ServiceDict]

@type_check_only
class TimeSeriesEntryDict(TypedDict):
    """One period of ``GetTimeSeriesServiceStatistics``: ``EdgeSummaryStatistics`` for edges,
    ``ServiceSummaryStatistics`` for a service."""

    #: The period's start, epoch seconds (a multiple of the period).
    Timestamp: float
    EdgeSummaryStatistics: NotRequired[SummaryStatisticsDict]
    ServiceSummaryStatistics: NotRequired[SummaryStatisticsDict]
    ResponseTimeHistogram: list[HistogramEntryDict]

@type_check_only
class TimeSeriesDict(TypedDict):
    """The ``GetTimeSeriesServiceStatistics`` response (without paging)."""

    TimeSeriesServiceStatistics: list[TimeSeriesEntryDict]
    ContainsOldGroupVersions: bool

@type_check_only
class NodeKeyDict(TypedDict):
    """A node: ``type`` and ``account_id`` are ``None`` when unknown."""

    name: str
    type: str | None
    account_id: str | None

@type_check_only
class LatencyDict(TypedDict):
    """Response times in seconds: exact ``count``, ``min``, ``max`` and ``sum``; quantiles
    from a DDSketch within 1 % of a value of the data (``None`` when there is none)."""

    count: int
    min: float | None
    max: float | None
    sum: float
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None

@type_check_only
class NodeLatencyDict(NodeKeyDict, LatencyDict):
    """A node's latency (its own segments' response times)."""

@type_check_only
class EdgeLatencyDict(LatencyDict):
    """An edge's latency (as measured by the caller)."""

    source: NodeKeyDict
    target: NodeKeyDict

@type_check_only
class LinkCountersDict(TypedDict):
    """Link edges' bookkeeping (see :attr:`Analysis.link_counters`)."""

    #: SQS calls kept for consumers that may still link to them.
    pending_producers: int
    #: Links whose producer has not been analysed.
    pending_consumers: int
    #: Pending entries (producers and consumers) dropped past ``max_pending_links``.
    dropped: int
    #: ``links`` entries that are not ``{"trace_id": ..., "id": ...}`` with valid ids.
    invalid: int

@type_check_only
class PercentilesDict(TypedDict):
    """Latency per node (client nodes excepted) and per edge."""

    nodes: list[NodeLatencyDict]
    edges: list[EdgeLatencyDict]

@type_check_only
class _NodeSelector(TypedDict):
    """A node, as ``Services`` entries name it (extra members are ignored)."""

    Name: str
    Type: NotRequired[str | None]
    AccountId: NotRequired[str | None]

#: What :meth:`Analysis.time_series` accepts as a node: a ``Services`` entry, or a dict with
#: ``Name`` and optional ``Type`` and ``AccountId``.
_Node: TypeAlias = _NodeSelector | ServiceDict

def analyze(
    source: _Source[_ChunkT] | TraceSet,
    *,
    start: float | None = None,
    end: float | None = None,
    format: Format = "auto",
    on_error: OnError = "raise",
    keep_traces: bool = True,
    filter: Filter | str | None = None,
    max_segments_per_trace: int = 10000,
    max_trace_bytes: int = 512000,
    max_document_bytes: int = 65536,
    max_depth: int = 64,
    max_json_depth: int = 512,
    max_input_bytes: int = ...,
    max_pending_links: int = 100000,
) -> Analysis:
    """Assembles traces (or takes a :class:`TraceSet`) and builds their service graph.

    The graph, statistics, histograms and latency sketches are built in Rust with the GIL
    released, in parallel for large sets.

    Arguments:
        source: what :func:`parse` accepts, or a :class:`TraceSet` (used as it is).
        start: with ``end``, the window ``[start, end)`` in epoch seconds: only traces whose
            first segment starts inside it are analysed, and it is the service graph's
            ``StartTime``/``EndTime``.
        end: see ``start``.
        format: as for :func:`parse`.
        on_error: as for :func:`parse`; with ``"collect"`` the rejections are in
            :attr:`Analysis.errors`.
        keep_traces: keep the traces for :meth:`Analysis.summaries`,
            :meth:`Analysis.trace_graph` and :attr:`Analysis.traces` (the default). ``False``
            keeps only the graph, so a long stream fed to :meth:`Analysis.add` holds bounded
            memory (the nodes, edges and their time buckets).
        filter: only traces this filter matches are analysed (a :class:`Filter`, or an
            expression compiled with :func:`compile_filter`): those of ``source`` and those
            given later to :meth:`Analysis.add`.
        max_segments_per_trace: as for :func:`parse`.
        max_trace_bytes: as for :func:`parse`.
        max_document_bytes: as for :func:`parse`.
        max_depth: as for :func:`parse`.
        max_json_depth: as for :func:`parse`.
        max_input_bytes: as for :func:`parse`.
        max_pending_links: how many link entries may wait for their other side (SQS sends
            kept for consumers, and consumers whose send was not analysed yet); past it the
            oldest are dropped and counted in :attr:`Analysis.link_counters`.

    Returns:
        The analysis.

    Raises:
        ValueError: only one of ``start`` and ``end`` is given, they are not finite, or
            ``start > end``; anything :func:`parse` raises for a non-``TraceSet`` source.
        xrfast.FilterExpressionError: ``filter`` is an expression that does not compile.
        TypeError: ``filter`` is neither a :class:`Filter` nor a string.
    """

@final
class Analysis:
    """The service graph, time series and latency percentiles of a set of traces (made by
    :func:`analyze`). Mergeable: :meth:`merge` of two analyses equals one analysis of both."""

    @property
    def traces(self) -> TraceSet:
        """The analysed traces, in the order they were added.

        Raises:
            ValueError: the analysis keeps no traces (``keep_traces=False``).
        """

    @property
    def keep_traces(self) -> bool:
        """Whether the traces are kept (see :func:`analyze`)."""

    @property
    def link_counters(self) -> LinkCountersDict:
        """Links waiting for their other side (a producer or consumer trace not analysed
        yet), and those dropped past ``max_pending_links`` or unreadable."""

    @property
    def errors(self) -> list[UnprocessedTraceSegment]:
        """Documents rejected by :func:`analyze` (with ``on_error="collect"``)."""

    @property
    def window(self) -> tuple[float, float] | None:
        """The window ``(start, end)``, or ``None``."""

    @property
    def filter(self) -> Filter | None:
        """The filter analysed traces must match (see :func:`analyze`), or ``None``. A merged
        analysis keeps it only when both had the same filter."""

    def add(self, traces: TraceSet) -> None:
        """Adds traces (those inside the window), e.g. each
        :meth:`TraceAssembler.pop_complete` result of a stream. The GIL is released."""

    def merge(self, other: Analysis) -> Analysis:
        """A new analysis of both: this one's traces, then ``other``'s (kept only when both keep
        them). Its window spans both windows (``None`` unless both have one)."""

    def summaries(self) -> list[TraceSummaryDict]:
        """One ``TraceSummary`` per trace, in order (see :meth:`Trace.summary`).

        Raises:
            ValueError: the analysis keeps no traces (``keep_traces=False``).
        """

    def summary_columns(self) -> dict[str, Any]:
        """:meth:`TraceSet.summary_columns` of the analysed traces, made from the summaries the
        analysis made with its graph (no document is read again).

        Raises:
            ValueError: the analysis keeps no traces (``keep_traces=False``).
        """

    def annotation_column(self, key: str) -> dict[str, Any]:
        """:meth:`TraceSet.annotation_column` of the analysed traces, made from their summaries.

        Raises:
            ValueError: the analysis keeps no traces (``keep_traces=False``).
        """

    def summaries_json(self) -> bytes:
        """:meth:`summaries` as ``{"TraceSummaries": [...]}``, compact JSON bytes made in Rust
        (the summaries are made with the graph, in one reading of each trace).

        Raises:
            ValueError: the analysis keeps no traces (``keep_traces=False``).
        """

    def paths(self, *, examples: int = 5, rare_share: float = 0.05) -> PathReportDict:
        """The path report over the analysed traces: the same as :meth:`TraceSet.paths`.

        Raises:
            ValueError: the analysis was made with ``keep_traces=False``, or ``rare_share`` is
                outside [0, 1].
        """

    def service_graph(self) -> ServiceGraphDict:
        """The ``GetServiceGraph`` response: nodes by name, type and account, ``ReferenceId``
        their position; each node's ``Edges`` by callee."""

    def service_graph_json(self) -> bytes:
        """:meth:`service_graph` as UTF-8 JSON made in Rust."""

    def trace_graph(self, trace_ids: list[str]) -> TraceGraphDict:
        """The ``GetTraceGraph`` response: the graph of the analysed traces with these ids
        (ids not analysed contribute nothing).

        Raises:
            ValueError: not 1 to 5 ids, one is not a trace id, or the analysis keeps no
                traces (``keep_traces=False``).
            TypeError: ``trace_ids`` is not a list of strings.
        """

    def time_series(
        self,
        period: Literal[60, 300, 3600] = 60,
        *,
        service: _Node | None = None,
        edge: tuple[_Node, _Node] | None = None,
        entity_selector: str | None = None,
    ) -> TimeSeriesDict:
        """The ``GetTimeSeriesServiceStatistics`` response: one entry per period with completed
        requests (bucketed by when they ended), inside the window.

        Arguments:
            period: seconds per entry: 60, 300 or 3600.
            service: a node: its own requests (``ServiceSummaryStatistics``).
            edge: ``(caller, callee)``: that edge's requests (``EdgeSummaryStatistics``).
                Without ``service``, ``edge`` or ``entity_selector``: every client → root edge,
                the requests that entered the application. An unknown node or edge gives no
                entries.
            entity_selector: X-Ray's ``EntitySelectorExpression`` (at most 500 characters):
                ``service("name")`` (every node of that name, summed), ``service(id(name:
                "...", type: "...", account.id: "..."))`` or ``id(...)`` (the nodes it names,
                omitted members are wildcards) give ``ServiceSummaryStatistics``;
                ``edge(ref, ref)`` gives ``EdgeSummaryStatistics`` of the edges between them.

        Raises:
            ValueError: another period, more than one of ``service``, ``edge`` and
                ``entity_selector``, or a node without ``Name``.
            xrfast.FilterExpressionError: ``entity_selector`` does not parse.
        """

    def percentiles(self) -> PercentilesDict:
        """Latency per node and per edge: exact count, min, max and sum, and p50/p90/p95/p99
        within 1 %."""

    def __len__(self) -> int:
        """The number of traces analysed (kept or not)."""

# --- the daemon's UDP socket (spec §2.2; docs/collector.md) ---------------------------------------

@type_check_only
class DaemonStatsDict(TypedDict):
    """What happened to every datagram (see :attr:`DaemonSocket.stats`).

    ``received == accepted + rejected + dropped`` in every snapshot, and ``rejected`` is the sum
    of the four ``rejected_*`` reasons. Datagrams the kernel dropped before the reader saw them
    (its receive buffer full) are not counted: they are the gap between what senders sent and
    ``received``.
    """

    #: Datagrams read from the socket.
    received: int
    #: Datagrams whose document was queued (and is, or was, in a drained batch).
    accepted: int
    #: Datagrams rejected, whatever the reason.
    rejected: int
    #: No newline, or the line before it is not ``{"format": "json", "version": 1}``.
    rejected_header: int
    #: Nothing but whitespace after the header line.
    rejected_empty: int
    #: Longer than ``max_datagram_bytes``.
    rejected_too_big: int
    #: The document is not UTF-8.
    rejected_not_utf8: int
    #: Dropped because the queue held ``queue_datagrams`` documents or ``queue_bytes`` bytes.
    dropped: int
    #: Bytes of every datagram read.
    bytes_received: int
    #: Errors from the socket other than time-outs (the reader goes on).
    receive_errors: int
    #: Documents waiting to be drained now.
    queued: int
    #: Non-empty batches handed out by :meth:`DaemonSocket.drain`.
    batches: int

@final
class DaemonSocket:
    """A UDP socket bound like the X-Ray daemon's, read by a Rust thread into a bounded queue.

    Each datagram is checked as the daemon checks it (spec §2.2: a header line
    ``{"format": "json", "version": 1}`` in any spacing, a newline, a document), and also for
    size and UTF-8; its document (the body, surrounding whitespace trimmed, not otherwise
    validated) is queued. :meth:`drain` hands out the whole queue at once, so a busy sender
    costs one Python call per batch, not per datagram. The reader stops with :meth:`close`
    (or the ``with`` block, or when the object is collected).

    Arguments:
        host: the address to bind, ``"127.0.0.1"`` by default.
        port: the UDP port, 2000 by default (the daemon's); 0 picks a free port (see
            :attr:`address`).
        max_datagram_bytes: largest datagram accepted, header included. Default 65,536.
        queue_datagrams: most documents waiting to be drained. Default 100,000.
        queue_bytes: most document bytes waiting to be drained. Default 64 MiB.
        receive_buffer_bytes: kernel receive buffer asked for (``SO_RCVBUF``; the kernel may
            grant less, see :attr:`receive_buffer_bytes`); 0 keeps the system default.
            Default 8 MiB.

    Raises:
        ValueError: a limit is zero.
        OverflowError: a limit or the port is negative or too large.
        OSError: the address cannot be bound.
    """

    def __new__(
        cls,
        host: str = "127.0.0.1",
        port: int = 2000,
        *,
        max_datagram_bytes: int = 65536,
        queue_datagrams: int = 100000,
        queue_bytes: int = 67108864,
        receive_buffer_bytes: int = 8388608,
    ) -> Self: ...
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` bound, with the port picked when 0 was asked for."""

    @property
    def receive_buffer_bytes(self) -> int:
        """The kernel receive buffer granted, in bytes (Linux reports twice the usable size)."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""

    @property
    def stats(self) -> DaemonStatsDict:
        """A snapshot of the counters since the socket was bound."""

    def drain(self, timeout: float = 0.1) -> list[bytes]:
        """Takes every queued document, waiting up to ``timeout`` seconds for the first when the
        queue is empty. The GIL is released while waiting.

        Arguments:
            timeout: seconds to wait when nothing is queued; 0 returns at once.

        Returns:
            The documents in arrival order (empty when none came in time, or after
            :meth:`close` once the queue is empty).

        Raises:
            ValueError: ``timeout`` is negative or not finite.
        """

    def close(self) -> None:
        """Stops the reader thread and closes the socket (what is queued can still be drained).
        Idempotent."""

    def __enter__(self) -> Self:
        """The socket itself."""

    def __exit__(self, exc_type: object, exc_value: object, traceback: object) -> None:
        """Closes the socket."""

# --------------------------------------------------------------------------------------------
# Filter expressions

@type_check_only
class GroupDict(TypedDict):
    """An X-Ray ``Group`` (``GetGroup``'s ``Group``) as :func:`compile_filter` takes it; other
    members (``InsightsConfiguration``, …) are ignored."""

    GroupName: str
    GroupARN: NotRequired[str | None]
    #: A group without a filter expression matches every trace.
    FilterExpression: NotRequired[str | None]

def compile_filter(
    expression: str,
    *,
    groups: Iterable[GroupDict] | None = None,
    max_depth: int = 64,
    max_length: int = 100000,
    max_predicates: int = 100000,
) -> Filter:
    """Compiles an X-Ray filter expression (the language of ``GetTraceSummaries``'
    ``FilterExpression`` and of groups) into a :class:`Filter`.

    Keywords are case-insensitive (``responseTime``, ``and``); ``AND`` binds tighter than ``OR``,
    ``!`` tightest, and two predicates side by side mean ``AND``. See ``docs/filter.md``.

    Arguments:
        expression: the filter, e.g. ``'service("api") { fault } AND responsetime > 2'``.
        groups: the named groups ``group.name = "..."`` and ``group.arn = "..."`` refer to;
            a reference is replaced by that group's compiled ``FilterExpression`` (a group that
            refers back to itself is an error).
        max_depth: the deepest nesting of parentheses, blocks and group references (at most
            256 is honoured).
        max_length: the longest expression, in bytes (each group's expression on its own).
        max_predicates: the most predicates in the compiled filter, every group reference's
            expression counted each time it is referred to.

    Returns:
        The compiled filter; it never parses the expression again.

    Raises:
        xrfast.FilterExpressionError: the expression does not compile (its ``position``,
            ``expected`` and ``found`` say why), or refers to an unknown group.
        TypeError: a group is not a dict of strings.
        ValueError: a group has no ``GroupName``.
    """

@final
class Filter:
    """A compiled X-Ray filter expression (made by :func:`compile_filter`). Evaluation runs in
    Rust with the GIL released, reading from each trace only what the expression needs."""

    @property
    def expression(self) -> str:
        """The expression it was compiled from."""

    def matches(self, trace: Trace) -> bool:
        """Whether ``trace`` matches."""

    def select(self, traces: TraceSet | Analysis) -> npt.NDArray[np.int64]:
        """The positions of the matching traces, ascending, as a numpy ``int64`` array
        (in parallel for large sets).

        Raises:
            TypeError: ``traces`` is neither a :class:`TraceSet` nor an :class:`Analysis`.
            ValueError: an :class:`Analysis` made with ``keep_traces=False``.
        """

    def select_ids(self, traces: TraceSet | Analysis) -> list[str]:
        """The ids of the matching traces, in order (raises as :meth:`select`)."""

    def filter(self, traces: TraceSet | Analysis) -> TraceSet:
        """A :class:`TraceSet` of the matching traces, in order (raises as :meth:`select`)."""
