//! OS error names as Node spells them (`"ENOSPC"`, `"EACCES"`, ...), so an
//! [`Error::Io`](crate::Error::Io) can carry the same `code` a Node `fs`
//! error would.
//!
//! Two sources, most precise first: the raw errno for the values every Unix
//! agrees on (1..=34 except 11, which is `EAGAIN` on Linux and `EDEADLK` on
//! the BSDs), then the portable [`std::io::ErrorKind`]. Anything else is
//! `"EIO"`: for a page file every unnamed failure is an I/O failure.

use std::io;

/// Every name [`code_of`] can return (and the fault switch accepts).
pub const NAMES: &[&str] = &[
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDQUOT",
    "ENOTEMPTY",
    "ENAMETOOLONG",
    "ENOTSUP",
    "ESTALE",
    "EDEADLK",
];

/// Errno values 1..=34 (index = errno - 1), identical on Linux, macOS and
/// the BSDs except 11 (left out: `None`).
const UNIX_ERRNO: [Option<&str>; 34] = [
    Some("EPERM"),
    Some("ENOENT"),
    Some("ESRCH"),
    Some("EINTR"),
    Some("EIO"),
    Some("ENXIO"),
    Some("E2BIG"),
    Some("ENOEXEC"),
    Some("EBADF"),
    Some("ECHILD"),
    None,
    Some("ENOMEM"),
    Some("EACCES"),
    Some("EFAULT"),
    Some("ENOTBLK"),
    Some("EBUSY"),
    Some("EEXIST"),
    Some("EXDEV"),
    Some("ENODEV"),
    Some("ENOTDIR"),
    Some("EISDIR"),
    Some("EINVAL"),
    Some("ENFILE"),
    Some("EMFILE"),
    Some("ENOTTY"),
    Some("ETXTBSY"),
    Some("EFBIG"),
    Some("ENOSPC"),
    Some("ESPIPE"),
    Some("EROFS"),
    Some("EMLINK"),
    Some("EPIPE"),
    Some("EDOM"),
    Some("ERANGE"),
];

/// The name of a raw errno every Unix agrees on.
fn by_raw(raw: i32) -> Option<&'static str> {
    if cfg!(unix) && raw >= 1 {
        UNIX_ERRNO.get(raw as usize - 1).copied().flatten()
    } else {
        None
    }
}

/// The name of a portable error kind.
fn by_kind(kind: io::ErrorKind) -> &'static str {
    use io::ErrorKind as K;
    match kind {
        K::NotFound => "ENOENT",
        K::PermissionDenied => "EACCES",
        K::AlreadyExists => "EEXIST",
        K::StorageFull => "ENOSPC",
        K::QuotaExceeded => "EDQUOT",
        K::ReadOnlyFilesystem => "EROFS",
        K::FileTooLarge => "EFBIG",
        K::IsADirectory => "EISDIR",
        K::NotADirectory => "ENOTDIR",
        K::DirectoryNotEmpty => "ENOTEMPTY",
        K::InvalidInput => "EINVAL",
        K::InvalidFilename => "ENAMETOOLONG",
        K::Interrupted => "EINTR",
        K::WouldBlock => "EAGAIN",
        K::OutOfMemory => "ENOMEM",
        K::ResourceBusy => "EBUSY",
        K::CrossesDevices => "EXDEV",
        K::TooManyLinks => "EMLINK",
        K::Unsupported => "ENOTSUP",
        K::StaleNetworkFileHandle => "ESTALE",
        K::BrokenPipe => "EPIPE",
        K::ExecutableFileBusy => "ETXTBSY",
        K::Deadlock => "EDEADLK",
        K::NotSeekable => "ESPIPE",
        _ => "EIO",
    }
}

/// The Node-style name of an I/O error: `"ENOSPC"`, `"EACCES"`, ...;
/// `"EIO"` when the OS gave nothing more precise (a short write, an
/// unknown errno).
pub fn code_of(err: &io::Error) -> &'static str {
    err.raw_os_error()
        .and_then(by_raw)
        .unwrap_or_else(|| by_kind(err.kind()))
}

/// The static spelling of a known name (for the fault switch).
pub fn lookup(name: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn code_of_raw_errno_table() {
        let cases = [
            (1, "EPERM"),
            (2, "ENOENT"),
            (5, "EIO"),
            (13, "EACCES"),
            (17, "EEXIST"),
            (28, "ENOSPC"),
            (30, "EROFS"),
        ];
        for (raw, name) in cases {
            assert_eq!(code_of(&io::Error::from_raw_os_error(raw)), name, "{raw}");
        }
    }

    #[test]
    fn code_of_kind_without_errno() {
        let cases = [
            (io::ErrorKind::NotFound, "ENOENT"),
            (io::ErrorKind::AlreadyExists, "EEXIST"),
            (io::ErrorKind::StorageFull, "ENOSPC"),
            (io::ErrorKind::WriteZero, "EIO"),
            (io::ErrorKind::UnexpectedEof, "EIO"),
            (io::ErrorKind::Other, "EIO"),
        ];
        for (kind, name) in cases {
            assert_eq!(code_of(&io::Error::from(kind)), name, "{kind:?}");
        }
    }

    #[test]
    fn names_cover_every_code() {
        for name in UNIX_ERRNO.iter().flatten() {
            assert_eq!(lookup(name), Some(*name));
        }
        for kind in [io::ErrorKind::QuotaExceeded, io::ErrorKind::Unsupported] {
            assert!(lookup(by_kind(kind)).is_some());
        }
        assert_eq!(lookup("ENOSPC"), Some("ENOSPC"));
        assert_eq!(lookup("enospc"), None);
        assert_eq!(lookup("NOPE"), None);
    }
}
