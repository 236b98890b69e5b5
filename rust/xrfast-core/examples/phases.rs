//! Times the phases of `assemble_all` on a corpus (a profiling aid, not a benchmark).

// Tests and measuring tools fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
use std::time::Instant;

/// The allocator the Python extension uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use rayon::prelude::*;
use xrfast_core::document::{parse_document, DocumentLimits};
use xrfast_core::input::frame;
use xrfast_core::{Assembler, Format, Limits};

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/bench-corpus.ndjson".into());
    let data = std::fs::read(&path).expect("corpus");
    for _ in 0..3 {
        let t = Instant::now();
        let mut framed = Vec::new();
        frame(&data, Format::Ndjson, 0, 512, &mut framed).unwrap();
        let t_frame = t.elapsed();
        let t = Instant::now();
        let parsed: Vec<_> = framed
            .par_iter()
            .with_min_len(64)
            .flat_map_iter(|f| {
                let mut v = Vec::new();
                parse_document(&f.bytes, f.index, DocumentLimits::default(), &mut |r| {
                    v.push(r);
                });
                v
            })
            .collect();
        let t_parse = t.elapsed();
        let t = Instant::now();
        let mut a = Assembler::new(Limits::default());
        for doc in parsed.into_iter().flatten() {
            a.add_document(doc.into(), 0.0);
        }
        let t_ingest = t.elapsed();
        let t = Instant::now();
        let traces = a.flush();
        let t_flush = t.elapsed();
        println!(
            "frame {t_frame:?} parse {t_parse:?} ingest {t_ingest:?} flush {t_flush:?} ({} traces)",
            traces.len()
        );
        drop(traces);
        let t = Instant::now();
        let mut a = Assembler::new(Limits::default());
        let mut errors = Vec::new();
        a.add_framed(&framed, 0.0, &mut errors);
        let t_add = t.elapsed();
        let traces = a.flush();
        println!(
            "add_framed {t_add:?} + flush = {:?} ({} traces)",
            t.elapsed(),
            traces.len()
        );
    }
}
