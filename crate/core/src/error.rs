//! The crate's one error type. Each variant maps to one stable code of the
//! public contract (`ERR_AGAIN`, `ERR_TOO_LARGE_SIZE`, ...); the binding reads
//! [`Error::code`] and never parses messages.

use std::fmt;

/// Everything that can go wrong in the write buffer core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The buffer is sealed, or has not enough room left: use the next buffer.
    Again,
    /// The record can never fit a buffer of this capacity.
    TooLargeSize,
    /// The operation needs a flushable buffer (sealed, no writer left).
    NotFlushable,
    /// `release_writer` with no writer in progress.
    NoWriter,
    /// The address is not a live record of this buffer.
    InvalidAddr,
    /// The capacity is not a power of two in `16..=2^31`.
    InvalidCapacity(u64),
    /// 2^31 - 1 writers are already in progress.
    TooManyWriters,
    /// A record header may no longer change: the buffer is flushable.
    ReadOnly,
    /// A page file (or an arena poked through a view's `.buffer`) fails a
    /// structure or checksum check.
    Corrupt(String),
    /// The allocator could not provide the arena (or the memory of a page
    /// file being opened).
    OutOfMemory(u64),
    /// A file operation failed. `code` is the OS error's name as Node spells
    /// it (`"ENOSPC"`, `"EACCES"`, `"EEXIST"`, `"EIO"`, ...) and is what
    /// [`Error::code`] returns; `message` says which operation on which path.
    Io {
        /// The errno name, e.g. `"ENOSPC"` (`"EIO"` when the OS gave none).
        code: &'static str,
        /// The operation, the path and the OS's description.
        message: String,
    },
}

impl Error {
    /// Every stable code, in the order of [`Error::status`] (`-1 - index`).
    /// The last one, `ERR_IO`, names the [`Error::Io`] family in the status
    /// scheme only: [`Error::code`] of an `Io` error is its errno name.
    pub const CODES: [&'static str; 11] = [
        "ERR_AGAIN",
        "ERR_TOO_LARGE_SIZE",
        "ERR_NOT_FLUSHABLE",
        "ERR_NO_WRITER",
        "ERR_INVALID_ADDR",
        "ERR_OUT_OF_RANGE",
        "ERR_TOO_MANY_WRITERS",
        "ERR_READ_ONLY",
        "ERR_CORRUPT",
        "ERR_OUT_OF_MEMORY",
        "ERR_IO",
    ];

    fn index(&self) -> usize {
        match self {
            Error::Again => 0,
            Error::TooLargeSize => 1,
            Error::NotFlushable => 2,
            Error::NoWriter => 3,
            Error::InvalidAddr => 4,
            Error::InvalidCapacity(_) => 5,
            Error::TooManyWriters => 6,
            Error::ReadOnly => 7,
            Error::Corrupt(_) => 8,
            Error::OutOfMemory(_) => 9,
            Error::Io { .. } => 10,
        }
    }

    /// The stable code of the public contract, e.g. `"ERR_AGAIN"`; for an
    /// [`Error::Io`], its errno name (`"ENOSPC"`, ...), as Node's `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { code, .. } => code,
            _ => Self::CODES[self.index()],
        }
    }

    /// An [`Error::Io`] for `err`, raised while doing `what` (e.g.
    /// `"write '/data/7.page'"`).
    pub fn io(what: impl fmt::Display, err: &std::io::Error) -> Self {
        Error::Io {
            code: crate::page_file::errno::code_of(err),
            message: format!("{what}: {err}"),
        }
    }

    /// A negative status number for status-word style calls: `-1 - index`
    /// into [`Error::CODES`]. Zero and positive numbers mean success.
    pub fn status(&self) -> i32 {
        -1 - self.index() as i32
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Again => f.write_str("the buffer is sealed or full: try the next buffer"),
            Error::TooLargeSize => {
                f.write_str("the record can never fit a buffer of this capacity")
            }
            Error::NotFlushable => {
                f.write_str("the buffer is not flushable: seal it and release every writer first")
            }
            Error::NoWriter => f.write_str("no writer is in progress"),
            Error::InvalidAddr => {
                f.write_str("the address is not a live page record of this buffer")
            }
            Error::InvalidCapacity(c) => write!(
                f,
                "capacity {c} is invalid: it must be a power of two, greater than 8, at most 2^31"
            ),
            Error::TooManyWriters => f.write_str("2^31 - 1 writers are already in progress"),
            Error::ReadOnly => f.write_str(
                "the buffer is flushable (sealed, no writer): its records are read-only",
            ),
            Error::Corrupt(what) => write!(f, "corrupt: {what}"),
            Error::OutOfMemory(n) => write!(f, "could not allocate {n} bytes"),
            Error::Io { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// The crate-wide result alias.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_and_status_round_trip() {
        let all = [
            Error::Again,
            Error::TooLargeSize,
            Error::NotFlushable,
            Error::NoWriter,
            Error::InvalidAddr,
            Error::InvalidCapacity(3),
            Error::TooManyWriters,
            Error::ReadOnly,
            Error::Corrupt("x".into()),
            Error::OutOfMemory(1),
            Error::Io {
                code: "ERR_IO",
                message: "x".into(),
            },
        ];
        assert_eq!(all.len(), Error::CODES.len());
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.status(), -1 - i as i32);
            assert_eq!(Error::CODES[(-1 - e.status()) as usize], e.code());
            assert!(e.code().starts_with("ERR_"));
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    #[cfg(unix)]
    fn error_io_code_is_the_errno_name() {
        let os = std::io::Error::from_raw_os_error(28);
        let e = Error::io("write '/x'", &os);
        assert_eq!(e.code(), "ENOSPC");
        assert_eq!(e.status(), -11);
        assert_eq!(Error::CODES[10], "ERR_IO");
        assert!(e.to_string().starts_with("ENOSPC: write '/x': "));
    }
}
