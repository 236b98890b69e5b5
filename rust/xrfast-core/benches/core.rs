//! Criterion benches of the core stages on the benchmark corpus, without Python.
//!
//! The corpus is the workload the Python runner generates (`make corpus` writes it to
//! `target/bench-corpus.ndjson`; `XRFAST_CORPUS` names another file), so Rust and Python
//! figures describe the same bytes.

// Tests and measuring tools fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xrfast_core::assemble::assemble_all;
use xrfast_core::bench::{parse_only, Parser};
use xrfast_core::{Format, Limits};

/// The allocator the Python extension uses, so these figures describe what Python users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn corpus() -> Vec<u8> {
    let path =
        std::env::var("XRFAST_CORPUS").unwrap_or_else(|_| "target/bench-corpus.ndjson".to_owned());
    let path = if std::path::Path::new(&path).exists() {
        path
    } else {
        format!("../../{path}")
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run `make corpus` first)"))
}

fn stages(c: &mut Criterion) {
    let data = corpus();
    let mut group = c.benchmark_group("ndjson");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    for (parser, name) in Parser::ALL {
        group.bench_function(format!("parse_only/{name}"), |b| {
            b.iter(|| parse_only(black_box(&data), parser));
        });
    }
    group.bench_function("assemble", |b| {
        b.iter(|| {
            assemble_all(black_box(&data), Format::Ndjson, Limits::default())
                .map(|(t, _, _)| t.len())
        });
    });
    group.bench_function("assemble+json", |b| {
        b.iter(|| {
            let (traces, _, _) =
                assemble_all(black_box(&data), Format::Ndjson, Limits::default()).ok()?;
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            for trace in &traces {
                trace.write_json(&mut out, &mut scratch);
            }
            Some(out.len())
        });
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
