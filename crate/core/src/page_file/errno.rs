//! OS error names as Node spells them (`"ENOSPC"`, `"EACCES"`, `"ELOOP"`,
//! ...), so an [`Error::Io`](crate::Error::Io) carries the same `code` a
//! Node `fs` error would.
//!
//! Two sources, most precise first: on Unix the raw errno, looked up in a
//! table built from this platform's own `libc` constants (errno values differ
//! between Linux and macOS; the names do not); then the portable
//! [`std::io::ErrorKind`] (Windows, or an error without an errno). Only an
//! error neither source names is `"EIO"` (a short write, an errno outside the
//! table): for a page file every unnamed failure is an I/O failure.

use std::io;

/// Every name [`code_of`] can return (and the fault switch accepts).
pub const NAMES: &[&str] = &[
    "E2BIG",
    "EACCES",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "EAFNOSUPPORT",
    "EAGAIN",
    "EALREADY",
    "EBADF",
    "EBUSY",
    "ECANCELED",
    "ECHILD",
    "ECONNABORTED",
    "ECONNREFUSED",
    "ECONNRESET",
    "EDEADLK",
    "EDESTADDRREQ",
    "EDOM",
    "EDQUOT",
    "EEXIST",
    "EFAULT",
    "EFBIG",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EILSEQ",
    "EINTR",
    "EINVAL",
    "EIO",
    "EISCONN",
    "EISDIR",
    "ELOOP",
    "EMFILE",
    "EMLINK",
    "EMSGSIZE",
    "ENAMETOOLONG",
    "ENETDOWN",
    "ENETUNREACH",
    "ENFILE",
    "ENOBUFS",
    "ENODATA",
    "ENODEV",
    "ENOENT",
    "ENOEXEC",
    "ENOLCK",
    "ENOMEM",
    "ENOPROTOOPT",
    "ENOSPC",
    "ENOSYS",
    "ENOTBLK",
    "ENOTCONN",
    "ENOTDIR",
    "ENOTEMPTY",
    "ENOTSOCK",
    "ENOTSUP",
    "ENOTTY",
    "ENXIO",
    "EOVERFLOW",
    "EPERM",
    "EPIPE",
    "EPROTO",
    "EPROTONOSUPPORT",
    "EPROTOTYPE",
    "ERANGE",
    "EROFS",
    "ESHUTDOWN",
    "ESPIPE",
    "ESRCH",
    "ESTALE",
    "ETIMEDOUT",
    "ETXTBSY",
    "EXDEV",
];

/// This platform's errno values and their names. The first match wins:
/// where two names share a value (`EWOULDBLOCK` is `EAGAIN` on Linux and
/// macOS, `EOPNOTSUPP` is `ENOTSUP` on Linux), the name Node uses comes
/// first.
#[cfg(unix)]
const UNIX_ERRNO: &[(i32, &str)] = &[
    (libc::E2BIG, "E2BIG"),
    (libc::EACCES, "EACCES"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::EALREADY, "EALREADY"),
    (libc::EBADF, "EBADF"),
    (libc::EBUSY, "EBUSY"),
    (libc::ECANCELED, "ECANCELED"),
    (libc::ECHILD, "ECHILD"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::EDEADLK, "EDEADLK"),
    (libc::EDESTADDRREQ, "EDESTADDRREQ"),
    (libc::EDOM, "EDOM"),
    (libc::EDQUOT, "EDQUOT"),
    (libc::EEXIST, "EEXIST"),
    (libc::EFAULT, "EFAULT"),
    (libc::EFBIG, "EFBIG"),
    (libc::EHOSTDOWN, "EHOSTDOWN"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::EILSEQ, "EILSEQ"),
    (libc::EINTR, "EINTR"),
    (libc::EINVAL, "EINVAL"),
    (libc::EIO, "EIO"),
    (libc::EISCONN, "EISCONN"),
    (libc::EISDIR, "EISDIR"),
    (libc::ELOOP, "ELOOP"),
    (libc::EMFILE, "EMFILE"),
    (libc::EMLINK, "EMLINK"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ENETDOWN, "ENETDOWN"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::ENFILE, "ENFILE"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::ENODATA, "ENODATA"),
    (libc::ENODEV, "ENODEV"),
    (libc::ENOENT, "ENOENT"),
    (libc::ENOEXEC, "ENOEXEC"),
    (libc::ENOLCK, "ENOLCK"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::ENOPROTOOPT, "ENOPROTOOPT"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ENOTBLK, "ENOTBLK"),
    (libc::ENOTCONN, "ENOTCONN"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::ENOTEMPTY, "ENOTEMPTY"),
    (libc::ENOTSOCK, "ENOTSOCK"),
    (libc::ENOTSUP, "ENOTSUP"),
    (libc::ENOTTY, "ENOTTY"),
    (libc::ENXIO, "ENXIO"),
    (libc::EOVERFLOW, "EOVERFLOW"),
    (libc::EPERM, "EPERM"),
    (libc::EPIPE, "EPIPE"),
    (libc::EPROTO, "EPROTO"),
    (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (libc::EPROTOTYPE, "EPROTOTYPE"),
    (libc::ERANGE, "ERANGE"),
    (libc::EROFS, "EROFS"),
    (libc::ESHUTDOWN, "ESHUTDOWN"),
    (libc::ESPIPE, "ESPIPE"),
    (libc::ESRCH, "ESRCH"),
    (libc::ESTALE, "ESTALE"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
    (libc::ETXTBSY, "ETXTBSY"),
    (libc::EXDEV, "EXDEV"),
    (libc::EWOULDBLOCK, "EAGAIN"),
    (libc::EOPNOTSUPP, "ENOTSUP"),
];

/// The name of a raw errno of this platform.
#[cfg(unix)]
fn by_raw(raw: i32) -> Option<&'static str> {
    UNIX_ERRNO
        .iter()
        .find(|&&(value, _)| value == raw)
        .map(|&(_, name)| name)
}

/// Windows' raw codes are not errnos: the error kind decides.
#[cfg(not(unix))]
fn by_raw(_raw: i32) -> Option<&'static str> {
    None
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
            (libc::EPERM, "EPERM"),
            (libc::ENOENT, "ENOENT"),
            (libc::EIO, "EIO"),
            (libc::EACCES, "EACCES"),
            (libc::EEXIST, "EEXIST"),
            (libc::ENOSPC, "ENOSPC"),
            (libc::EROFS, "EROFS"),
            (libc::EAGAIN, "EAGAIN"),
            (libc::EWOULDBLOCK, "EAGAIN"),
            (libc::EOPNOTSUPP, "ENOTSUP"),
        ];
        for (raw, name) in cases {
            assert_eq!(code_of(&io::Error::from_raw_os_error(raw)), name, "{raw}");
        }
    }

    #[test]
    #[cfg(unix)]
    fn code_of_names_errnos_beyond_the_first_34() {
        // Each was "EIO" before: only 1..=34 had names.
        let cases = [
            (libc::ELOOP, "ELOOP"),
            (libc::ENAMETOOLONG, "ENAMETOOLONG"),
            (libc::ENOTEMPTY, "ENOTEMPTY"),
            (libc::EDQUOT, "EDQUOT"),
            (libc::EOVERFLOW, "EOVERFLOW"),
            (libc::ENOSYS, "ENOSYS"),
            (libc::ETIMEDOUT, "ETIMEDOUT"),
            (libc::ECANCELED, "ECANCELED"),
            (libc::ESTALE, "ESTALE"),
            (libc::ENOLCK, "ENOLCK"),
        ];
        for (raw, name) in cases {
            assert_eq!(code_of(&io::Error::from_raw_os_error(raw)), name, "{raw}");
        }
    }

    #[test]
    #[cfg(unix)]
    fn code_of_symlink_loop_is_eloop() {
        // A real loop, as the OS reports it (std has no stable kind for it).
        let dir = std::env::temp_dir().join(format!("pwb-eloop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("1.page");
        std::os::unix::fs::symlink(&link, &link).unwrap();
        let err = std::fs::File::open(&link).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(code_of(&err), "ELOOP", "{err}");
    }

    #[test]
    #[cfg(unix)]
    fn every_table_value_is_named_and_known() {
        for &(raw, name) in UNIX_ERRNO {
            assert!(raw > 0, "{name}");
            assert_eq!(lookup(name), Some(name));
            // The first entry with this value names it.
            let first = UNIX_ERRNO.iter().find(|e| e.0 == raw).unwrap().1;
            assert_eq!(code_of(&io::Error::from_raw_os_error(raw)), first);
        }
        assert_eq!(code_of(&io::Error::from_raw_os_error(0x7fff_0000)), "EIO");
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
        for kind in [
            io::ErrorKind::QuotaExceeded,
            io::ErrorKind::Unsupported,
            io::ErrorKind::Deadlock,
        ] {
            assert!(lookup(by_kind(kind)).is_some());
        }
        assert_eq!(lookup("ENOSPC"), Some("ENOSPC"));
        assert_eq!(lookup("ELOOP"), Some("ELOOP"));
        assert_eq!(lookup("enospc"), None);
        assert_eq!(lookup("NOPE"), None);
    }
}
