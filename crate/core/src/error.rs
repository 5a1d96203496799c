//! The crate's one error type. Each variant maps to one stable code of the
//! public contract (`ERR_AGAIN`, `ERR_TOO_LARGE_SIZE`, ...); the binding reads
//! [`Error::code`] and never parses messages. [`Code`] is the one table of
//! every code the package raises (core and binding), with its message.

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

/// The JS class an error of a [`Code`] surfaces as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The package's own `WriteBufferError`.
    WriteBufferError,
    /// Node's `TypeError` (an argument's type or value).
    TypeError,
    /// Node's `RangeError` (an argument out of range).
    RangeError,
    /// Never reaches the caller: the JS layer acts on it (or reports a bug).
    Internal,
}

impl Class {
    /// The class's name, as JS spells it (`"internal"` for [`Class::Internal`]).
    pub const fn name(self) -> &'static str {
        match self {
            Class::WriteBufferError => "WriteBufferError",
            Class::TypeError => "TypeError",
            Class::RangeError => "RangeError",
            Class::Internal => "internal",
        }
    }
}

/// What the error table says about one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The stable code, e.g. `"ERR_AGAIN"`.
    pub code: &'static str,
    /// The JS class it surfaces as.
    pub class: Class,
    /// The message of a status-word error of this code (the JS layer puts
    /// the operation in front of it).
    pub message: &'static str,
    /// When it is raised: the error table of docs/api.md, generated from this.
    pub when: &'static str,
}

/// Every stable error code of the package: the one table of codes, their
/// messages and their status numbers. The core's [`Error`] maps onto it; the
/// binding raises the binding-only ones (`Closed`, `Locked`, ...); the JS
/// layer reads the table from the binding (`errorTable()`), and the error
/// table of docs/api.md is generated from it (`scripts/error-table.js`).
///
/// A status word `s < 0` means `Code::ALL[-1 - s]` ([`Code::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `ERR_AGAIN`
    Again,
    /// `ERR_TOO_LARGE_SIZE`
    TooLargeSize,
    /// `ERR_NOT_FLUSHABLE`
    NotFlushable,
    /// `ERR_NO_WRITER`
    NoWriter,
    /// `ERR_INVALID_ADDR`
    InvalidAddr,
    /// `ERR_OUT_OF_RANGE` (an invalid capacity)
    OutOfRange,
    /// `ERR_TOO_MANY_WRITERS`
    TooManyWriters,
    /// `ERR_READ_ONLY`
    ReadOnly,
    /// `ERR_CORRUPT`
    Corrupt,
    /// `ERR_OUT_OF_MEMORY`
    OutOfMemory,
    /// `ERR_IO`: the [`Error::Io`] family in the status scheme (an `Io`
    /// error's own code is its errno name).
    Io,
    /// `ERR_CLOSED` (binding and JS: a disposed buffer, a closed object)
    Closed,
    /// `ERR_LOCKED` (binding: the directory lock is held)
    Locked,
    /// `ERR_GROUPS_EXHAUSTED` (JS: a `PageLog` ran out of group ids)
    GroupsExhausted,
    /// `ERR_INVALID_ARG_TYPE` (Node's code)
    InvalidArgType,
    /// `ERR_INVALID_ARG_VALUE` (Node's code)
    InvalidArgValue,
    /// `ERR_NO_EXTERNAL_BUFFERS` (binding: the runtime refuses external
    /// `ArrayBuffer`s; the JS layer switches to the `'js'` arena mode)
    NoExternalBuffers,
    /// `ERR_NAPI` (binding: a napi call failed)
    Napi,
}

impl Code {
    /// Every code, in status order: `Code::ALL[i]` has status `-1 - i`.
    pub const ALL: [Code; 18] = [
        Code::Again,
        Code::TooLargeSize,
        Code::NotFlushable,
        Code::NoWriter,
        Code::InvalidAddr,
        Code::OutOfRange,
        Code::TooManyWriters,
        Code::ReadOnly,
        Code::Corrupt,
        Code::OutOfMemory,
        Code::Io,
        Code::Closed,
        Code::Locked,
        Code::GroupsExhausted,
        Code::InvalidArgType,
        Code::InvalidArgValue,
        Code::NoExternalBuffers,
        Code::Napi,
    ];

    /// The table's row of this code.
    pub const fn info(self) -> CodeInfo {
        use Class::*;
        let (code, class, message, when) = match self {
            Code::Again => (
                "ERR_AGAIN",
                WriteBufferError,
                "the buffer is sealed or has not enough room left: seal it and use the next buffer",
                "buffer sealed, or not enough room left: try the next buffer; `seal()` on a sealed buffer (\"already sealed\"); a lane's `allocPage` with too little room left in the lane (\"close it and take another lane\")",
            ),
            Code::TooLargeSize => (
                "ERR_TOO_LARGE_SIZE",
                WriteBufferError,
                "the record can never fit a buffer of this capacity: use a larger buffer",
                "the record can never fit a buffer of this capacity",
            ),
            Code::NotFlushable => (
                "ERR_NOT_FLUSHABLE",
                WriteBufferError,
                "the buffer is not flushable: it must be sealed, with every writer released",
                "`records()`/`flushTo()` on a buffer that is not sealed with every writer released (the message says whether it is sealed and how many writers are still open)",
            ),
            Code::NoWriter => (
                "ERR_NO_WRITER",
                WriteBufferError,
                "no writer acquired on this thread is in progress: releaseWriter() must pair with an acquiring reservation made on the same thread",
                "`releaseWriter()` (or `lane.close()`) with no writer in progress that this thread acquired",
            ),
            Code::InvalidAddr => (
                "ERR_INVALID_ADDR",
                WriteBufferError,
                "the address is not a live page record of this buffer",
                "`page(addr)` for anything but a live page record of this buffer (other group, misaligned, out of range, middle of a record, dealloc record, tombstone)",
            ),
            Code::OutOfRange => (
                "ERR_OUT_OF_RANGE",
                RangeError,
                CAPACITY_RULE,
                "negative, fractional, NaN, over u32/u64, capacity not a power of two in [16, 2^31]",
            ),
            Code::TooManyWriters => (
                "ERR_TOO_MANY_WRITERS",
                WriteBufferError,
                "2^31 - 1 writers are already in progress",
                "2^31 − 1 writers already in progress",
            ),
            Code::ReadOnly => (
                "ERR_READ_ONLY",
                WriteBufferError,
                "the buffer is flushable (sealed, no writer): its record headers are read-only",
                "`setTombstone`/`setPageId` once the buffer is flushable",
            ),
            Code::Corrupt => (
                "ERR_CORRUPT",
                WriteBufferError,
                "the buffer fails a structure check (was it written through a view's .buffer?)",
                "a page file that fails its checksum or structure checks (the message names what and where); or iteration met a header overwritten through a view's `.buffer`",
            ),
            Code::OutOfMemory => (
                "ERR_OUT_OF_MEMORY",
                WriteBufferError,
                "memory could not be allocated (an arena, or a page file being opened)",
                "the arena (or the memory of a page file being opened) could not be allocated",
            ),
            Code::Io => (
                "ERR_IO",
                WriteBufferError,
                "an I/O operation failed",
                "a `PageLogWriter` relays a flush of the owner thread that failed with no code (as an `Error` with this code); I/O failures otherwise carry Node's errno code, below",
            ),
            Code::Closed => (
                "ERR_CLOSED",
                WriteBufferError,
                "the WriteBuffer was disposed on this thread",
                "a closed lane or released writer guard used again; any call on a disposed `WriteBuffer`; a closed `PageFile`/`PageLog`/`PageLogWriter`; `waitFlushed()` on a buffer dropped on every thread before it was flushed",
            ),
            Code::Locked => (
                "ERR_LOCKED",
                WriteBufferError,
                "the directory is locked by another PageLog",
                "`PageLog.open` of a directory that another `PageLog` (this process or another) has open: its `LOCK` file is `flock`ed until close or process death",
            ),
            Code::GroupsExhausted => (
                "ERR_GROUPS_EXHAUSTED",
                WriteBufferError,
                "the log has used every group id (up to 2^32 - 1): copy its live pages into a log in a new directory",
                "a `PageLog` append needs a buffer after group 2^32 − 1 (`4294967295.page`): copy the live pages into a log in a new directory",
            ),
            Code::InvalidArgType => (
                "ERR_INVALID_ARG_TYPE",
                TypeError,
                "an argument has the wrong type",
                "wrong argument type",
            ),
            Code::InvalidArgValue => (
                "ERR_INVALID_ARG_VALUE",
                TypeError,
                "an argument has an invalid value",
                "`attach` of a handle whose buffer no thread holds any more, whose `groupId`/`capacity` is not that buffer's, or (`'js'` arena mode) whose `arena`/`arenaOffset` is not that buffer's arena; a `PageLogWriter` append through a handle whose `bufferSize` is not its log's; an `ArenaPool` not made by its constructor; an options object with an unknown key (the message names the known ones)",
            ),
            Code::NoExternalBuffers => (
                "ERR_NO_EXTERNAL_BUFFERS",
                Internal,
                "this runtime refuses external ArrayBuffers",
                "the runtime refuses an external `ArrayBuffer`: the JS layer switches to the `'js'` arena mode",
            ),
            Code::Napi => (
                "ERR_NAPI",
                Internal,
                "a napi call failed",
                "a napi call failed (a bug or an exhausted runtime)",
            ),
        };
        CodeInfo {
            code,
            class,
            message,
            when,
        }
    }

    /// The stable code, e.g. `"ERR_AGAIN"`.
    pub const fn as_str(self) -> &'static str {
        self.info().code
    }

    /// The message of a status-word error of this code.
    pub const fn message(self) -> &'static str {
        self.info().message
    }

    /// The status number of this code: `-1 - index` into [`Code::ALL`].
    pub const fn status(self) -> i32 {
        -1 - self as i32
    }

    /// The code of a negative status number.
    pub fn from_status(status: i32) -> Option<Code> {
        let i = usize::try_from(-1i64 - status as i64).ok()?;
        Code::ALL.get(i).copied()
    }
}

/// A situation in which the general message of a code would give the wrong
/// advice. A status word carries only the code; the JS layer, which knows
/// which call failed, says the situation's message instead. Part of the one
/// error table: the binding exports it as `errorReasons()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `seal()` on a buffer that is already sealed (`ERR_AGAIN`).
    AlreadySealed,
    /// A lane's `allocPage` with too little room left in the lane, even in
    /// an empty buffer (`ERR_AGAIN`).
    LaneFull,
}

/// What the error table says about one [`Reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonInfo {
    /// The key the JS layer names it by, e.g. `"alreadySealed"`.
    pub key: &'static str,
    /// The code the error carries.
    pub code: Code,
    /// The message said instead of the code's.
    pub message: &'static str,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 2] = [Reason::AlreadySealed, Reason::LaneFull];

    /// The table's row of this reason.
    pub const fn info(self) -> ReasonInfo {
        let (key, code, message) = match self {
            Reason::AlreadySealed => (
                "alreadySealed",
                Code::Again,
                "the buffer is already sealed: seal it only once; new pages go to the next buffer",
            ),
            Reason::LaneFull => (
                "laneFull",
                Code::Again,
                "the lane is full: close it and take another lane",
            ),
        };
        ReasonInfo { key, code, message }
    }
}

/// The valid capacities, as every message says it (the rule is
/// [`WriteBuffer::MIN_CAPACITY`](crate::WriteBuffer::MIN_CAPACITY)`..=`
/// [`MAX_CAPACITY`](crate::WriteBuffer::MAX_CAPACITY), powers of two).
pub const CAPACITY_RULE: &str = "a power of two in [16, 2^31]";

impl Error {
    /// The row of the error table this error belongs to.
    pub fn kind(&self) -> Code {
        match self {
            Error::Again => Code::Again,
            Error::TooLargeSize => Code::TooLargeSize,
            Error::NotFlushable => Code::NotFlushable,
            Error::NoWriter => Code::NoWriter,
            Error::InvalidAddr => Code::InvalidAddr,
            Error::InvalidCapacity(_) => Code::OutOfRange,
            Error::TooManyWriters => Code::TooManyWriters,
            Error::ReadOnly => Code::ReadOnly,
            Error::Corrupt(_) => Code::Corrupt,
            Error::OutOfMemory(_) => Code::OutOfMemory,
            Error::Io { .. } => Code::Io,
        }
    }

    /// The stable code of the public contract, e.g. `"ERR_AGAIN"`; for an
    /// [`Error::Io`], its errno name (`"ENOSPC"`, ...), as Node's `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { code, .. } => code,
            _ => self.kind().as_str(),
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
    /// into [`Code::ALL`]. Zero and positive numbers mean success.
    pub fn status(&self) -> i32 {
        self.kind().status()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidCapacity(c) => {
                write!(f, "capacity {c} is invalid: it must be {CAPACITY_RULE}")
            }
            Error::Corrupt(what) => write!(f, "corrupt: {what}"),
            Error::OutOfMemory(n) => write!(f, "could not allocate {n} bytes"),
            Error::Io { code, message } => write!(f, "{code}: {message}"),
            _ => f.write_str(self.kind().message()),
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
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.status(), -1 - i as i32);
            assert_eq!(Code::from_status(e.status()), Some(e.kind()));
            assert_eq!(e.kind().as_str(), e.code());
            assert!(e.code().starts_with("ERR_"));
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn the_table_lists_every_code_once_in_status_order() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?} is not at its status index");
            assert_eq!(c.status(), -1 - i as i32);
            assert_eq!(Code::from_status(c.status()), Some(*c));
            let info = c.info();
            assert!(info.code.starts_with("ERR_"), "{}", info.code);
            assert!(!info.message.is_empty() && !info.when.is_empty());
            for d in &Code::ALL[..i] {
                assert_ne!(d.as_str(), info.code, "{} twice", info.code);
            }
        }
        assert_eq!(Code::from_status(0), None);
        assert_eq!(Code::from_status(-1 - Code::ALL.len() as i32), None);
        assert_eq!(Code::from_status(i32::MIN), None);
    }

    #[test]
    fn every_reason_has_its_own_key_and_a_message_other_than_its_codes() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            let info = r.info();
            assert!(!info.message.is_empty());
            assert_ne!(info.message, info.code.message(), "{}", info.key);
            for q in &Reason::ALL[..i] {
                assert_ne!(q.info().key, info.key, "{} twice", info.key);
            }
        }
    }

    #[test]
    fn the_capacity_rule_is_the_one_the_check_applies() {
        use crate::WriteBuffer;
        assert_eq!(
            CAPACITY_RULE,
            format!(
                "a power of two in [{}, 2^{}]",
                WriteBuffer::MIN_CAPACITY,
                WriteBuffer::MAX_CAPACITY.trailing_zeros()
            )
        );
        let msg = Error::InvalidCapacity(8).to_string();
        assert!(msg.ends_with(CAPACITY_RULE), "{msg}");
    }

    #[test]
    fn unit_errors_say_the_message_of_their_code() {
        for e in [Error::Again, Error::NoWriter, Error::ReadOnly] {
            assert_eq!(e.to_string(), e.kind().message());
        }
    }

    #[test]
    #[cfg(unix)]
    fn error_io_code_is_the_errno_name() {
        let os = std::io::Error::from_raw_os_error(28);
        let e = Error::io("write '/x'", &os);
        assert_eq!(e.code(), "ENOSPC");
        assert_eq!(e.status(), -11);
        assert_eq!(e.kind().as_str(), "ERR_IO");
        assert!(e.to_string().starts_with("ENOSPC: write '/x': "));
    }
}
