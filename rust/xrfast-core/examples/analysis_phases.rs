//! Times the analysis stages on one thread, on top of assembled traces (a profiling aid, not a
//! benchmark: `xrfast bench` measures the same work against assembly, in parallel):
//!
//! ```text
//! make corpus
//! cargo run --release --example analysis_phases -- target/bench-corpus.ndjson [STAGE]
//! ```
//!
//! STAGE is one of `services`, `summaries`, `graph`, `both` (summaries and graph in one pass);
//! without one, every stage. Each prints the best of nine passes (`PASSES=n` for another count).

// Tests and measuring tools fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
use std::time::{Duration, Instant};

/// The allocator the Python extension uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use xrfast_core::assemble::assemble_all;
use xrfast_core::graph::ServiceGraph;
use xrfast_core::summary::{Services, TraceSummary};
use xrfast_core::{Format, Limits, Trace};

const STAGES: [&str; 4] = ["services", "summaries", "graph", "both"];

fn run(stage: &str, traces: &[Trace]) {
    match stage {
        "services" => drop(traces.iter().map(Services::of).collect::<Vec<_>>()),
        "summaries" => drop(traces.iter().map(TraceSummary::of).collect::<Vec<_>>()),
        "graph" => {
            let mut graph = ServiceGraph::new();
            for trace in traces {
                graph.add(trace);
            }
        }
        "both" => {
            // `with_summaries` on one thread: the work of one pass, without the split.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            drop(pool.install(|| ServiceGraph::with_summaries(traces)));
        }
        _ => panic!("unknown stage {stage:?}; one of {STAGES:?}"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "target/bench-corpus.ndjson".into());
    let stages: Vec<String> = args.next().map_or_else(
        || STAGES.iter().map(|s| (*s).to_owned()).collect(),
        |stage| vec![stage],
    );
    let data = std::fs::read(&path).expect("corpus");
    let (traces, _, _) = assemble_all(&data, Format::Ndjson, Limits::default()).unwrap();
    for stage in stages {
        let mut best = Duration::MAX;
        let passes = std::env::var("PASSES").map_or(9, |p| p.parse().unwrap());
        for _ in 0..passes {
            let t = Instant::now();
            run(&stage, &traces);
            best = best.min(t.elapsed());
        }
        println!(
            "{stage}: {best:?} (best of {passes}, one thread, {} traces)",
            traces.len()
        );
    }
}
