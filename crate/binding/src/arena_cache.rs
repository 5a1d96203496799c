//! The process-wide arena cache and its reclaim thread
//! (`photon_wb_core::reclaim`), seen from JS: counters, bounds, trim.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use photon_wb_core::{reclaim, CacheConfig, Code};

use crate::error::{coded, ErrorCode};

/// `[cachedArenas, cachedBytes, pendingArenas, pendingBytes, hits, misses,
/// freed]`.
#[napi]
pub fn arena_cache_stats() -> Vec<f64> {
    let s = reclaim::stats();
    vec![
        s.cached_arenas as f64,
        s.cached_bytes as f64,
        s.pending_arenas as f64,
        s.pending_bytes as f64,
        s.hits as f64,
        s.misses as f64,
        s.freed as f64,
    ]
}

/// `[maxBytes, maxBytesPerSize, minArenasPerSize]`.
#[napi]
pub fn arena_cache_config() -> Vec<f64> {
    let c = reclaim::config();
    vec![
        c.max_bytes as f64,
        c.max_bytes_per_size as f64,
        c.min_arenas_per_size as f64,
    ]
}

fn bytes(v: f64, what: &str) -> Result<usize, ErrorCode> {
    if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 2f64.powi(53)) {
        return Err(coded(
            Code::OutOfRange,
            format!("{what} must be an integer in 0..2^53, got {v}"),
        ));
    }
    Ok(v as usize)
}

/// Sets the bounds (the JS wrapper has checked them; checked again here).
/// The arenas cached so far are freed, in the background.
#[napi]
pub fn configure_arena_cache(
    max_bytes: f64,
    max_bytes_per_size: f64,
    min_arenas_per_size: f64,
) -> Result<(), ErrorCode> {
    reclaim::configure(CacheConfig {
        max_bytes: bytes(max_bytes, "maxBytes")?,
        max_bytes_per_size: bytes(max_bytes_per_size, "maxBytesPerSize")?,
        min_arenas_per_size: bytes(min_arenas_per_size, "minArenasPerSize")?,
    });
    Ok(())
}

/// Frees every cached arena, in the background.
#[napi]
pub fn trim_arena_cache() {
    reclaim::trim();
}
