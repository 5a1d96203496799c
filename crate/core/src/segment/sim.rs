//! Test double: a file in memory that remembers what the last `fdatasync`
//! made durable, so a test can "lose power" and look at what survives.

use std::io;
use std::sync::{Condvar, Mutex};

use super::file::SegmentFile;

#[derive(Default)]
struct State {
    /// What reads see (the page cache).
    live: Vec<u8>,
    /// What survives power loss: `live` as of the last sync.
    durable: Vec<u8>,
    syncs: u64,
    /// While set, `sync_data` blocks (tests hold a sync in flight).
    hold: bool,
    /// Syncs to let through before `hold` applies.
    skip: u64,
    /// Syncs currently blocked in `sync_data`.
    held: u64,
    /// Blocked syncs to let go on while `hold` stays set (`let_one_through`).
    pass: u64,
    /// While set, `sync_data` fails with `EIO` (and makes nothing durable).
    fail: bool,
}

/// An in-memory file with a durable copy.
#[derive(Default)]
pub struct SimFile {
    state: Mutex<State>,
    cv: Condvar,
}

impl SimFile {
    pub fn new() -> Self {
        Self::default()
    }

    /// A file whose live and durable content is `bytes`.
    pub fn with_bytes(bytes: Vec<u8>) -> Self {
        let f = Self::default();
        {
            let mut s = f.state.lock().unwrap();
            s.durable = bytes.clone();
            s.live = bytes;
        }
        f
    }

    /// What a power loss now would leave: the content at the last sync.
    pub fn durable(&self) -> Vec<u8> {
        self.state.lock().unwrap().durable.clone()
    }

    /// The current content.
    pub fn live(&self) -> Vec<u8> {
        self.state.lock().unwrap().live.clone()
    }

    /// Syncs so far.
    pub fn syncs(&self) -> u64 {
        self.state.lock().unwrap().syncs
    }

    /// Makes every later `sync_data` block until `hold(false)`.
    pub fn hold(&self, on: bool) {
        self.hold_after(0, on);
    }

    /// As `hold`, letting the next `skip` syncs through first.
    pub fn hold_after(&self, skip: u64, on: bool) {
        let mut s = self.state.lock().unwrap();
        s.hold = on;
        s.skip = skip;
        drop(s);
        self.cv.notify_all();
    }

    /// Lets one sync blocked by `hold` (now or next) complete; `hold` stays.
    pub fn let_one_through(&self) {
        self.state.lock().unwrap().pass += 1;
        self.cv.notify_all();
    }

    /// Makes every later `sync_data` fail with `EIO` (or work again).
    pub fn fail_syncs(&self, on: bool) {
        self.state.lock().unwrap().fail = on;
    }

    /// Waits until `n` syncs are blocked by `hold`.
    pub fn wait_held(&self, n: u64) {
        let mut s = self.state.lock().unwrap();
        while s.held < n {
            s = self.cv.wait(s).unwrap();
        }
    }
}

impl SegmentFile for SimFile {
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        let end = pos as usize + buf.len();
        if s.live.len() < end {
            s.live.resize(end, 0);
        }
        s.live[pos as usize..end].copy_from_slice(buf);
        Ok(())
    }

    fn read_at_most(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let s = self.state.lock().unwrap();
        let start = (pos as usize).min(s.live.len());
        let n = buf.len().min(s.live.len() - start);
        buf[..n].copy_from_slice(&s.live[start..start + n]);
        Ok(n)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        if s.hold && s.skip > 0 {
            s.skip -= 1;
        } else if s.hold {
            s.held += 1;
            self.cv.notify_all();
            while s.hold && s.pass == 0 {
                s = self.cv.wait(s).unwrap();
            }
            if s.hold {
                s.pass -= 1;
            }
            s.held -= 1;
        }
        if s.fail {
            return Err(io::Error::from_raw_os_error(5));
        }
        s.durable = s.live.clone();
        s.syncs += 1;
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.state.lock().unwrap().live.resize(len as usize, 0);
        Ok(())
    }

    fn file_len(&self) -> io::Result<u64> {
        Ok(self.state.lock().unwrap().live.len() as u64)
    }
}
