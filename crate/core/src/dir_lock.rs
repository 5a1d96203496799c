//! An exclusive lock on a directory, so that two page logs never write the
//! same directory at once: a `LOCK` file in it, locked with `flock`
//! (`File::try_lock`). The kernel drops the lock when the holder closes the
//! file or dies (even by `kill -9`), so a crash never leaves a stale lock.
//! Two opens in one process conflict too (the lock belongs to the open file
//! description).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The name of the lock file inside a locked directory.
pub const LOCK_FILE: &str = "LOCK";

/// A held directory lock; released on drop.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
    _file: File,
}

impl DirLock {
    /// Locks `dir` (which must exist). `Ok(None)` when someone else holds it.
    pub fn try_acquire(dir: &Path) -> Result<Option<DirLock>> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("open '{}'", path.display()), &e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DirLock { path, _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io(format!("lock '{}'", path.display()), &e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("pwb-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DirLock::try_acquire(&dir).unwrap().expect("free at first");
        assert!(first.path().ends_with(LOCK_FILE));
        assert!(DirLock::try_acquire(&dir).unwrap().is_none(), "held");
        drop(first);
        let again = DirLock::try_acquire(&dir).unwrap();
        assert!(again.is_some(), "free after drop");
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let err = DirLock::try_acquire(Path::new("/nonexistent/pwb/dir")).unwrap_err();
        assert_eq!(err.code(), "ENOENT");
    }
}
