//! Long mutation-fuzz run of the page file reader.
//!
//! ```text
//! cargo run --release -p photon-write-buffer-core --features test-hooks --example fuzz_page_file -- 1000000 [seed]
//! ```
//!
//! Every mutated file (flip, insert, delete, truncate, overwrite, lying
//! lengths with and without recomputed checksums) must be refused with
//! `ERR_CORRUPT` or, for a resealed lie, accepted as a consistent file;
//! nothing may panic. Exits non-zero on the first violation.

use std::process::ExitCode;
use std::time::Instant;

use photon_wb_core::page_file::fuzz;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x5eed_f00d);
    // Panics are caught and reported per input; keep the default hook quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let result = fuzz::run(seed, iterations);
    let elapsed = start.elapsed();
    match result {
        Ok(s) => {
            println!(
                "fuzz_page_file: {} inputs from {} files, seed {seed:#x}, {:.1}s: \
                 {} rejected as corrupt, {} unchanged, {} resealed lies accepted; no panic",
                s.inputs,
                s.bases,
                elapsed.as_secs_f64(),
                s.rejected,
                s.unchanged,
                s.resealed
            );
            ExitCode::SUCCESS
        }
        Err(what) => {
            eprintln!(
                "fuzz_page_file: FAILED after {:.1}s: {what}",
                elapsed.as_secs_f64()
            );
            ExitCode::FAILURE
        }
    }
}
