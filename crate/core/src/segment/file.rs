//! The file operations a segment needs, behind a trait so that tests can
//! put a power-loss simulation underneath (`sim.rs`).

use std::fs::File;
use std::io;

/// Positional I/O on one segment file.
pub trait SegmentFile: Send + Sync {
    /// Writes all of `buf` at `pos`.
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Reads up to `buf.len()` bytes at `pos`; fewer only at the end of
    /// the file. Returns the bytes read.
    fn read_at_most(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// `fdatasync`: the written data (and the size, if it changed) become
    /// durable.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: data and all metadata.
    fn sync_all(&self) -> io::Result<()>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's length.
    fn file_len(&self) -> io::Result<u64>;
}

impl SegmentFile for File {
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::write_all_at(self, buf, pos)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                let n = std::os::windows::fs::FileExt::seek_write(
                    self,
                    &buf[done..],
                    pos + done as u64,
                )?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                done += n;
            }
            Ok(())
        }
    }

    fn read_at_most(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            #[cfg(unix)]
            let n = std::os::unix::fs::FileExt::read_at(self, &mut buf[done..], pos + done as u64);
            #[cfg(windows)]
            let n =
                std::os::windows::fs::FileExt::seek_read(self, &mut buf[done..], pos + done as u64);
            match n {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    fn file_len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}
