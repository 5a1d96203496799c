//! Sets `cfg(photon_wb_asan)` when the crate is built with AddressSanitizer
//! (`RUSTFLAGS=-Zsanitizer=address`, nightly), for the few tests that cannot
//! run under it. (`cfg(sanitize = "address")` would say the same, but it is
//! unstable even on nightly without a feature gate.)

fn main() {
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo::rustc-check-cfg=cfg(photon_wb_asan)");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    // Flags are separated by 0x1f; `-Zsanitizer=address` may also come as
    // `-Z` `sanitizer=address`, or list several sanitizers.
    let asan = flags.split('\x1f').any(|f| {
        f.trim_start_matches("-Z")
            .strip_prefix("sanitizer=")
            .is_some_and(|s| s.split(',').any(|s| s == "address"))
    });
    if asan {
        println!("cargo::rustc-cfg=photon_wb_asan");
    }
}
