//! The packed state word of a write buffer.

use crate::error::{Error, Result};

/// The unpacked form of the buffer's one `u64` state word.
///
/// Bit layout of the packed word (the contract's bit-exact layout):
///
/// ```text
///  63   62 ............ 32   31 ............. 0
/// +----+--------------------+-------------------+
/// |seal|  writers (31 bits) | allocated (32 bits)|
/// +----+--------------------+-------------------+
/// ```
///
/// - bit 63: the buffer is sealed (no more reservations);
/// - bits 32..=62: number of writers in progress;
/// - bits 0..=31: bytes reserved so far, a multiple of 8 and never more than
///   the capacity (at most 2^31, so it always fits).
///
/// Every transition is computed on this plain value and installed with one
/// compare-and-swap on the word (see `WriteBuffer`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BufferState {
    /// No more reservations are accepted.
    pub sealed: bool,
    /// Writers in progress (31 bits).
    pub writers: u32,
    /// Bytes reserved so far.
    pub allocated: u32,
}

/// Bit 63: sealed.
pub const SEALED_BIT: u64 = 1 << 63;
/// Writers start at bit 32.
pub const WRITERS_SHIFT: u32 = 32;
/// The largest writer count the 31-bit field holds.
pub const MAX_WRITERS: u32 = (1 << 31) - 1;
const ALLOCATED_MASK: u64 = u32::MAX as u64;

impl BufferState {
    /// Unpacks a raw state word.
    #[inline]
    pub const fn unpack(raw: u64) -> Self {
        BufferState {
            sealed: raw & SEALED_BIT != 0,
            writers: ((raw >> WRITERS_SHIFT) as u32) & MAX_WRITERS,
            allocated: (raw & ALLOCATED_MASK) as u32,
        }
    }

    /// Packs into a raw state word. `writers` is at most [`MAX_WRITERS`] by
    /// construction (every increment goes through [`BufferState::reserve`]).
    #[inline]
    pub const fn pack(self) -> u64 {
        (if self.sealed { SEALED_BIT } else { 0 })
            | (((self.writers & MAX_WRITERS) as u64) << WRITERS_SHIFT)
            | self.allocated as u64
    }

    /// At least one writer is in progress.
    #[inline]
    pub const fn has_writer(self) -> bool {
        self.writers > 0
    }

    /// Sealed and no writer left: the records may be iterated and flushed.
    #[inline]
    pub const fn is_flushable(self) -> bool {
        self.sealed && !self.has_writer()
    }

    /// The state after reserving `need` bytes (already a multiple of 8) in a
    /// buffer of `capacity` bytes, counting one more writer if asked.
    /// Returns the new state and the offset of the reserved range; an error
    /// leaves `self` as it was (the caller then installs nothing).
    ///
    /// The checks run in this order: a record that can never fit is
    /// `TooLargeSize` whatever the state (retrying elsewhere cannot help),
    /// then a sealed buffer is `Again`, then a full writer count is
    /// `TooManyWriters`, then a lack of room is `Again`.
    #[inline]
    pub fn reserve(self, need: u64, capacity: u32, acquire_writer: bool) -> Result<(Self, u32)> {
        debug_assert_eq!(need % crate::record::ALIGN as u64, 0);
        if need > capacity as u64 {
            return Err(Error::TooLargeSize);
        }
        if self.sealed {
            return Err(Error::Again);
        }
        let mut next = self;
        if acquire_writer {
            if self.writers >= MAX_WRITERS {
                return Err(Error::TooManyWriters);
            }
            next.writers += 1;
        }
        // u64 arithmetic: allocated <= 2^31 and need <= 2^31, nothing wraps.
        let end = self.allocated as u64 + need;
        if end > capacity as u64 {
            return Err(Error::Again);
        }
        next.allocated = end as u32;
        Ok((next, self.allocated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_state_load_and_apply() {
        // Port of the seed's `buffer_state_load_and_apply`.
        let state = BufferState::default();
        assert!(!state.sealed);
        assert_eq!(state.writers, 0);
        assert_eq!(state.allocated, 0);

        let (mut state, offset) = state.reserve(8, 1024, true).unwrap();
        state.sealed = true;
        assert_eq!(offset, 0);
        let state = BufferState::unpack(state.pack());
        assert!(state.sealed);
        assert_eq!(state.writers, 1);
        assert_eq!(state.allocated, 8);
    }

    #[test]
    fn buffer_state_bits_are_exact() {
        let cases = [
            (
                BufferState {
                    sealed: true,
                    writers: 0,
                    allocated: 0,
                },
                1u64 << 63,
            ),
            (
                BufferState {
                    sealed: false,
                    writers: 1,
                    allocated: 0,
                },
                1u64 << 32,
            ),
            (
                BufferState {
                    sealed: false,
                    writers: MAX_WRITERS,
                    allocated: 0,
                },
                0x7fff_ffffu64 << 32,
            ),
            (
                BufferState {
                    sealed: false,
                    writers: 0,
                    allocated: u32::MAX,
                },
                0xffff_ffff,
            ),
            (
                BufferState {
                    sealed: true,
                    writers: 3,
                    allocated: 24,
                },
                (1 << 63) | (3 << 32) | 24,
            ),
        ];
        for (state, raw) in cases {
            assert_eq!(state.pack(), raw, "{state:?}");
            assert_eq!(BufferState::unpack(raw), state);
        }
    }

    #[test]
    fn buffer_state_reserve_errors_change_nothing() {
        let s = BufferState {
            sealed: false,
            writers: 2,
            allocated: 1000,
        };
        assert_eq!(s.reserve(2048, 1024, true), Err(Error::TooLargeSize));
        assert_eq!(s.reserve(32, 1024, false), Err(Error::Again));
        let sealed = BufferState { sealed: true, ..s };
        assert_eq!(sealed.reserve(8, 1024, true), Err(Error::Again));
        let full = BufferState {
            writers: MAX_WRITERS,
            ..BufferState::default()
        };
        assert_eq!(full.reserve(8, 1024, true), Err(Error::TooManyWriters));
        assert!(full.reserve(8, 1024, false).is_ok());
    }

    #[test]
    fn buffer_state_reserve_exact_fit_and_capacity_2_pow_31() {
        let s = BufferState {
            allocated: 1000,
            ..Default::default()
        };
        let (n, off) = s.reserve(24, 1024, false).unwrap();
        assert_eq!((n.allocated, off), (1024, 1000));

        let cap = 1u32 << 31;
        let s = BufferState {
            allocated: cap - 8,
            ..Default::default()
        };
        let (n, off) = s.reserve(8, cap, true).unwrap();
        assert_eq!((n.allocated, off, n.writers), (cap, cap - 8, 1));
        // allocated == 2^31 still packs without touching the writer bits.
        assert_eq!(BufferState::unpack(n.pack()), n);
        // Nothing wraps: a full 2^31 buffer refuses the next 8 bytes.
        assert_eq!(n.reserve(8, cap, false), Err(Error::Again));
        assert_eq!(s.reserve(cap as u64, cap, false), Err(Error::Again));
        assert_eq!(
            BufferState::default().reserve(cap as u64 + 8, cap, false),
            Err(Error::TooLargeSize)
        );
    }
}
