//! The atomic behind the state word, swappable for loom's model-checked one.
//!
//! A normal build uses `std`'s `AtomicU64`. Built with `RUSTFLAGS="--cfg
//! loom"` (the model tests in `tests/loom.rs`), the state word's atomic is
//! `loom`'s, so loom explores every interleaving and every value the
//! orderings allow of the one compare-and-swap each transition makes. Only
//! the state word goes through here: header cells and the record-start bitmap
//! stay `std` (loom does not explore them; the models target the state word).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU64;
