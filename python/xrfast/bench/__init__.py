"""Benchmark support: a realistic X-Ray document generator and the pure-Python reference.

* :mod:`xrfast.bench.workload` makes deterministic streams of segment documents shaped like the
  ones the AWS X-Ray SDK for Python and AWS services send (streaming, in-progress documents,
  interleaved traces), in every wire format xrfast reads.
* :mod:`xrfast.bench.reference` assembles traces in plain Python exactly as ``docs/assembly.md``
  says: the baseline every benchmark figure is a ratio against, and the oracle the tests compare
  the Rust engine with.

Both modules need only the standard library and ``orjson``, and import nothing from the compiled
extension, so they work before (and without) building it.
"""
