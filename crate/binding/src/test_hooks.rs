//! The binding's test-only switches, compiled only with the cargo feature
//! `test-hooks` (the test build of the addon, `npm run build:test`, which
//! the AVA specs that need them load). Without it each hook below is an
//! empty inline function: the release addon has neither their code nor the
//! names of their environment variables.
//!
//! - `PHOTON_WB_FLUSH_DELAY_MS=<ms>`: each flush waits that long before it
//!   reads the arena, so a test can collect everything JS holds meanwhile.
//! - `PHOTON_WB_SIMULATE_NO_EXTERNAL=1` acts as if the runtime refused every
//!   external `ArrayBuffer` (detected at load, by the scratch block);
//!   `=arena` refuses only arenas (detected by the first `new WriteBuffer`).
//! - the core's fault switch `PHOTON_WB_FAULT` (`photon_wb_core::page_file::fault`);
//! - the core's segment pauses `PHOTON_WB_SEGMENT_PAUSE=<prepare|commit|seal>:<us>`
//!   (same module): a sleep, with a marker line on stderr, inside a segment's
//!   preparation, commit and seal, where crash tests aim their kills;
//! - the durability trace: `traceDurability(on)` and `takeDurabilityTrace()`
//!   expose the core's record of the writer's calls, plus a `resolve` note
//!   when a flush's outcome is handed to JS.
//! - `v8ExternalMemory()`: V8's external-memory counter of this isolate.

use std::path::Path;

use crate::arena_mode::Exposed;

pub use imp::*;

#[cfg(not(feature = "test-hooks"))]
mod imp {
    use super::*;

    /// No pause (the switch does not exist in this build).
    #[inline(always)]
    pub fn flush_delay() -> Option<std::time::Duration> {
        None
    }

    /// Never refuses (the switch does not exist in this build).
    #[inline(always)]
    pub fn simulate_refusal(_kind: Exposed) -> bool {
        false
    }

    /// Nothing is traced in this build.
    #[inline(always)]
    pub fn note_resolved(_path: &Path) {}
}

#[cfg(feature = "test-hooks")]
mod imp {
    use std::sync::OnceLock;

    use napi_derive::napi;
    use photon_wb_core::page_file::fault;

    use super::*;

    /// The external memory this isolate's GC accounts for (V8's counter,
    /// read with a zero adjustment): what the arena-memory spec checks.
    #[napi]
    pub fn v8_external_memory(env: &napi::Env) -> f64 {
        let mut total = 0i64;
        // SAFETY: `env` is the live env of this call; a zero change reads
        // the counter.
        unsafe { napi::sys::napi_adjust_external_memory(env.raw(), 0, &mut total) };
        total as f64
    }

    /// The pause of `PHOTON_WB_FLUSH_DELAY_MS` (unset: none), read per flush.
    pub fn flush_delay() -> Option<std::time::Duration> {
        let ms: u64 = std::env::var("PHOTON_WB_FLUSH_DELAY_MS")
            .ok()?
            .parse()
            .ok()?;
        Some(std::time::Duration::from_millis(ms.min(10_000)))
    }

    /// Whether to act as if the runtime refused an external `ArrayBuffer`
    /// of this kind (`PHOTON_WB_SIMULATE_NO_EXTERNAL`, read once).
    pub fn simulate_refusal(kind: Exposed) -> bool {
        #[derive(Clone, Copy, PartialEq, Eq)]
        enum Sim {
            Off,
            All,
            Arena,
        }
        static SIM: OnceLock<Sim> = OnceLock::new();
        let sim =
            *SIM.get_or_init(
                || match std::env::var("PHOTON_WB_SIMULATE_NO_EXTERNAL").as_deref() {
                    Err(_) | Ok("") | Ok("0") => Sim::Off,
                    Ok("arena") => Sim::Arena,
                    Ok(_) => Sim::All,
                },
            );
        match sim {
            Sim::Off => false,
            Sim::All => true,
            Sim::Arena => kind == Exposed::Arena,
        }
    }

    /// Notes in the trace that the flush to `path` is about to be reported
    /// to JS (called on the JS thread, before its promise resolves).
    pub fn note_resolved(path: &Path) {
        fault::note("resolve", path);
    }

    /// One entry of the durability trace.
    #[napi(object)]
    pub struct DurabilityCall {
        /// `open`, `write`, `fdatasync`, `link`, `rename`, `unlink`,
        /// `fsync` (of the directory), or the note `resolve`.
        pub call: String,
        pub path: String,
        /// The new name, for `link` and `rename`.
        pub to: Option<String>,
        /// The errno name if the call failed.
        pub error: Option<String>,
    }

    /// Test build only: turns the process-wide durability trace on (empty)
    /// or off.
    #[napi]
    pub fn trace_durability(on: bool) {
        fault::set_tracing(on);
    }

    /// Test build only: the durability calls traced since the last take.
    #[napi]
    pub fn take_durability_trace() -> Vec<DurabilityCall> {
        fault::take_trace()
            .into_iter()
            .map(|e| DurabilityCall {
                call: e.call.to_owned(),
                path: e.path.to_string_lossy().into_owned(),
                to: e.to.map(|p| p.to_string_lossy().into_owned()),
                error: e.error.map(str::to_owned),
            })
            .collect()
    }
}
