//! The writer's test hooks: the fault switch and the durability trace.
//! They exist only with the cargo feature `test-hooks` (the test build of
//! the addon, `npm run build:test`) and in this crate's own unit tests.
//! Without it every hook below is an empty `#[inline(always)]` function: a
//! release build holds neither their code nor the name of their switch.
//!
//! **Fault switch.** `PHOTON_WB_FAULT=<op>:<errno>` (several separated by
//! commas) makes step `<op>` of every
//! [`write_page_file`](super::write_page_file) fail with `<errno>` instead
//! of running, so the ENOSPC / EIO paths can be exercised on a machine whose
//! disk cannot be filled. `<op>:delay=<ms>` instead makes step `<op>` wait
//! `<ms>` milliseconds and then run (a slow disk, for backpressure tests).
//! Steps, in order: `open` (create the temp file), `write` (half the bytes
//! are written, then the error), `sync` (fdatasync of the file), `rename`
//! (the temp file to the final name), `dirsync` (fsync of the directory).
//! Errno names are those of [`super::errno::NAMES`]. The switch is read once
//! per flush ([`scope`]); set it before starting a flush, not during one.
//!
//! **Durability trace.** While [`set_tracing`] is on, [`traced`] records
//! each durability call of the writer (create, write, fdatasync, link or
//! rename, unlink, directory fsync) *after* the real call returned, with
//! its path and outcome, so a test can check their order (data synced
//! before the name appears, directory synced before the flush reports
//! success) and that they happened at all.
//!
//! **Segment pauses.** `PHOTON_WB_SEGMENT_PAUSE=<point>:<us>` (several
//! separated by commas) makes the segment core sleep `<us>` microseconds at
//! `<point>`, so that a `kill -9` at a random moment lands there often:
//! `prepare` (a new segment's temp file written and synced, before its
//! link to the final name), `commit` (a commit's records written, before
//! their `fdatasync`), `seal` (the index synced, before the trailer). Each
//! pause writes `photon-wb pause <point>` to stderr as it starts and
//! `photon-wb resume <point>` as it ends (one `write` each), for a test to
//! tell where its kill landed. Read once per process; a malformed switch
//! panics (a typo must not make a test prove less).

use std::io;
use std::path::Path;

use crate::error::Result;

/// A step of the durable write (what the fault switch names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Creating the temp file.
    Open,
    /// Writing the bytes.
    Write,
    /// `fdatasync` of the temp file.
    Sync,
    /// Renaming (or linking) the temp file to the final name.
    Rename,
    /// `fsync` of the directory.
    DirSync,
}

/// A durability call of the writer (what the trace records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `open(O_CREAT|O_EXCL)` of the temp file.
    Open,
    /// `write`/`writev` to the temp file.
    Write,
    /// `fdatasync` of the temp file.
    Fdatasync,
    /// `link` of the temp file to the final name.
    Link,
    /// `rename` of the temp file to the final name.
    Rename,
    /// `unlink` of the temp name (after a link).
    Unlink,
    /// `fsync` of the directory.
    FsyncDir,
}

/// A point of the segment core where `PHOTON_WB_SEGMENT_PAUSE` can pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// A prepared segment's temp file is synced, not yet linked.
    Prepare,
    /// A commit's records are written, not yet synced.
    Commit,
    /// A seal's index is synced, its trailer not yet written.
    Seal,
}

pub use imp::*;

/// Release build: every hook does nothing and costs nothing.
#[cfg(not(any(test, feature = "test-hooks")))]
mod imp {
    use super::*;

    /// Runs `f` (the fault switch does not exist in this build).
    #[inline(always)]
    pub fn scope<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
        f()
    }

    /// Never fails (the fault switch does not exist in this build).
    #[inline(always)]
    pub fn check(_step: Step, _what: impl std::fmt::Display) -> Result<()> {
        Ok(())
    }

    /// Runs `f` (nothing is traced in this build).
    #[inline(always)]
    pub fn traced<T>(
        _call: Call,
        _path: &Path,
        _to: Option<&Path>,
        f: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        f()
    }

    /// No pause (the switch does not exist in this build).
    #[inline(always)]
    pub fn pause(_point: Pause) {}
}

/// Test build: the fault switch and the trace.
#[cfg(any(test, feature = "test-hooks"))]
mod imp {
    use std::cell::RefCell;
    use std::path::PathBuf;
    use std::sync::Mutex;

    use super::super::errno;
    use super::*;
    use crate::error::Error;

    /// The environment variable of the fault switch.
    pub const FAULT_ENV: &str = "PHOTON_WB_FAULT";

    impl Step {
        /// Every step, in the order the writer runs them.
        pub const ALL: [Step; 5] = [
            Step::Open,
            Step::Write,
            Step::Sync,
            Step::Rename,
            Step::DirSync,
        ];

        /// The step's name in `PHOTON_WB_FAULT`.
        pub const fn name(self) -> &'static str {
            match self {
                Step::Open => "open",
                Step::Write => "write",
                Step::Sync => "sync",
                Step::Rename => "rename",
                Step::DirSync => "dirsync",
            }
        }
    }

    impl Call {
        /// The call's name in the trace.
        pub const fn name(self) -> &'static str {
            match self {
                Call::Open => "open",
                Call::Write => "write",
                Call::Fdatasync => "fdatasync",
                Call::Link => "link",
                Call::Rename => "rename",
                Call::Unlink => "unlink",
                Call::FsyncDir => "fsync",
            }
        }
    }

    /// What happens at a planned step.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fault {
        /// The step fails with this errno name.
        Errno(&'static str),
        /// The step waits this long, then runs.
        Delay(std::time::Duration),
    }

    /// Which steps fail (with which errno name) or are slow.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct FaultPlan {
        faults: Vec<(Step, Fault)>,
    }

    impl FaultPlan {
        /// No fault: every step runs.
        pub const fn none() -> Self {
            FaultPlan { faults: Vec::new() }
        }

        /// Step `step` fails with `code` (an errno name such as `"ENOSPC"`).
        pub fn fail(mut self, step: Step, code: &'static str) -> Self {
            self.faults.push((step, Fault::Errno(code)));
            self
        }

        /// Step `step` waits `ms` milliseconds before it runs.
        pub fn delay(mut self, step: Step, ms: u64) -> Self {
            self.faults
                .push((step, Fault::Delay(std::time::Duration::from_millis(ms))));
            self
        }

        /// Parses `op:ERRNO` or `op:delay=MS`, comma-separated. An unknown op or errno is an
        /// [`Error::Io`] with code `EINVAL`, so a typo in a test fails loudly.
        pub fn parse(spec: &str) -> Result<Self> {
            let mut plan = FaultPlan::none();
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let parsed = part.split_once(':').and_then(|(op, what)| {
                    let step = Step::ALL.into_iter().find(|s| s.name() == op.trim())?;
                    let what = what.trim();
                    let fault = match what.strip_prefix("delay=") {
                        Some(ms) => {
                            Fault::Delay(std::time::Duration::from_millis(ms.parse().ok()?))
                        }
                        None => Fault::Errno(errno::lookup(what)?),
                    };
                    Some((step, fault))
                });
                match parsed {
                    Some((step, fault)) => plan.faults.push((step, fault)),
                    None => {
                        return Err(Error::Io {
                            code: "EINVAL",
                            message: format!(
                                "{FAULT_ENV}: cannot parse '{part}' (expected <open|write|sync|rename|dirsync>:<ERRNO or delay=MS>)"
                            ),
                        })
                    }
                }
            }
            Ok(plan)
        }

        /// The plan in `PHOTON_WB_FAULT` (none if unset or empty).
        pub fn from_env() -> Result<Self> {
            match std::env::var(FAULT_ENV) {
                Ok(spec) => Self::parse(&spec),
                Err(_) => Ok(FaultPlan::none()),
            }
        }

        /// The injected error of `step`, if it is planned to fail (after the
        /// planned delay of `step`, if any).
        pub fn check(&self, step: Step, what: impl std::fmt::Display) -> Result<()> {
            for (_, fault) in self.faults.iter().filter(|(s, _)| *s == step) {
                match *fault {
                    Fault::Delay(d) => std::thread::sleep(d),
                    Fault::Errno(code) => {
                        return Err(Error::Io {
                            code,
                            message: format!(
                                "{what}: injected fault ({FAULT_ENV}={}:{code})",
                                step.name()
                            ),
                        })
                    }
                }
            }
            Ok(())
        }
    }

    thread_local! {
        /// The fault plan of the flush running on this thread.
        static PLAN: RefCell<Option<FaultPlan>> = const { RefCell::new(None) };
    }

    /// Puts the previous plan of this thread back (also on a panic).
    struct Restore(Option<FaultPlan>);

    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            PLAN.with(|p| *p.borrow_mut() = prev);
        }
    }

    /// Runs `f` with `plan` as this thread's fault plan (tests: a plan per
    /// call, without the process-wide environment).
    pub fn with_plan<T>(plan: FaultPlan, f: impl FnOnce() -> T) -> T {
        let _restore = Restore(PLAN.with(|p| p.borrow_mut().replace(plan)));
        f()
    }

    /// Runs one flush `f` under the plan of `PHOTON_WB_FAULT` (read once,
    /// here), unless [`with_plan`] already set one. A malformed switch is
    /// an [`Error::Io`] with code `EINVAL`.
    pub fn scope<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
        if PLAN.with(|p| p.borrow().is_some()) {
            return f();
        }
        with_plan(FaultPlan::from_env()?, f)
    }

    /// The injected error of `step` in this thread's plan, if it is planned
    /// to fail (after the planned delay of `step`, if any).
    pub fn check(step: Step, what: impl std::fmt::Display) -> Result<()> {
        PLAN.with(|p| match &*p.borrow() {
            Some(plan) => plan.check(step, what),
            None => Ok(()),
        })
    }

    /// One traced durability call (or a note of the binding, such as the
    /// moment a flush is reported to JS).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TraceEntry {
        /// [`Call::name`], or the note's name.
        pub call: &'static str,
        /// The file or directory the call is about.
        pub path: PathBuf,
        /// The new name, for `link` and `rename`.
        pub to: Option<PathBuf>,
        /// The errno name if the call failed.
        pub error: Option<&'static str>,
    }

    /// The trace: `None` while tracing is off.
    static TRACE: Mutex<Option<Vec<TraceEntry>>> = Mutex::new(None);

    fn push(entry: TraceEntry) {
        let mut trace = TRACE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = trace.as_mut() {
            v.push(entry);
        }
    }

    /// Turns the process-wide trace on (empty) or off (dropping it).
    pub fn set_tracing(on: bool) {
        *TRACE.lock().unwrap_or_else(|e| e.into_inner()) = on.then(Vec::new);
    }

    /// What was traced since the last call (tracing stays as it is).
    pub fn take_trace() -> Vec<TraceEntry> {
        TRACE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Records a note that is not a call of the writer (e.g. `"resolve"`).
    pub fn note(what: &'static str, path: &Path) {
        push(TraceEntry {
            call: what,
            path: path.to_owned(),
            to: None,
            error: None,
        });
    }

    /// Runs the real call `f` and then records it with its outcome.
    pub fn traced<T>(
        call: Call,
        path: &Path,
        to: Option<&Path>,
        f: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        let out = f();
        push(TraceEntry {
            call: call.name(),
            path: path.to_owned(),
            to: to.map(Path::to_owned),
            error: out.as_ref().err().map(errno::code_of),
        });
        out
    }

    /// The environment variable of the segment pauses.
    pub const PAUSE_ENV: &str = "PHOTON_WB_SEGMENT_PAUSE";

    impl Pause {
        /// Every point, and its name in `PHOTON_WB_SEGMENT_PAUSE`.
        pub const ALL: [(Pause, &'static str); 3] = [
            (Pause::Prepare, "prepare"),
            (Pause::Commit, "commit"),
            (Pause::Seal, "seal"),
        ];

        /// The point's name in `PHOTON_WB_SEGMENT_PAUSE`.
        pub fn name(self) -> &'static str {
            Pause::ALL
                .iter()
                .find(|(p, _)| *p == self)
                .expect("listed")
                .1
        }
    }

    /// Parses `point:us`, comma-separated: the pause of each point named.
    pub fn parse_pauses(spec: &str) -> std::result::Result<Vec<(Pause, u64)>, String> {
        spec.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|part| {
                part.split_once(':')
                    .and_then(|(name, us)| {
                        let (point, _) = Pause::ALL.iter().find(|(_, n)| *n == name.trim())?;
                        Some((*point, us.trim().parse().ok()?))
                    })
                    .ok_or_else(|| {
                        format!("{PAUSE_ENV}: cannot parse '{part}' (expected <prepare|commit|seal>:<microseconds>)")
                    })
            })
            .collect()
    }

    /// Sleeps at `point` as `PHOTON_WB_SEGMENT_PAUSE` says (read once),
    /// with a marker line on stderr before and after.
    pub fn pause(point: Pause) {
        use std::io::Write;
        static PAUSES: std::sync::OnceLock<Vec<(Pause, u64)>> = std::sync::OnceLock::new();
        let pauses = PAUSES.get_or_init(|| match std::env::var(PAUSE_ENV) {
            Ok(spec) => parse_pauses(&spec).unwrap_or_else(|e| panic!("{e}")),
            Err(_) => Vec::new(),
        });
        for &(_, us) in pauses.iter().filter(|(p, _)| *p == point) {
            let name = point.name();
            let _ = std::io::stderr().write_all(format!("photon-wb pause {name}\n").as_bytes());
            std::thread::sleep(std::time::Duration::from_micros(us));
            let _ = std::io::stderr().write_all(format!("photon-wb resume {name}\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_plan_parse_ops_and_errnos() {
        let plan = FaultPlan::parse("write:ENOSPC, dirsync:EIO").unwrap();
        assert_eq!(
            plan,
            FaultPlan::none()
                .fail(Step::Write, "ENOSPC")
                .fail(Step::DirSync, "EIO")
        );
        let err = plan.check(Step::Write, "write 'x'").unwrap_err();
        assert_eq!(err.code(), "ENOSPC");
        assert!(plan.check(Step::Sync, "sync").is_ok());
        assert_eq!(FaultPlan::parse("").unwrap(), FaultPlan::none());
    }

    #[test]
    fn fault_plan_delay_waits_then_runs() {
        let plan = FaultPlan::parse("sync:delay=30").unwrap();
        assert_eq!(plan, FaultPlan::none().delay(Step::Sync, 30));
        let t0 = std::time::Instant::now();
        assert!(plan.check(Step::Sync, "sync").is_ok());
        assert!(t0.elapsed() >= std::time::Duration::from_millis(30));
        assert!(plan.check(Step::Write, "write").is_ok());
    }

    #[test]
    fn fault_plan_parse_rejects_typos() {
        for bad in [
            "write",
            "write:",
            "wrte:EIO",
            "write:ENOPE",
            "write:enospc",
            "sync:delay=",
            "sync:delay=x",
        ] {
            let err = FaultPlan::parse(bad).unwrap_err();
            assert_eq!(err.code(), "EINVAL", "{bad}");
        }
    }

    #[test]
    fn fault_step_names_are_distinct() {
        for (i, a) in Step::ALL.iter().enumerate() {
            for b in &Step::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }

    #[test]
    fn segment_pause_parse() {
        assert_eq!(
            parse_pauses("commit:500, seal:0,prepare:20").unwrap(),
            vec![(Pause::Commit, 500), (Pause::Seal, 0), (Pause::Prepare, 20)]
        );
        assert_eq!(parse_pauses("").unwrap(), vec![]);
        for bad in ["commit", "commit:", "comit:5", "seal:-1", "seal:1ms"] {
            assert!(parse_pauses(bad).is_err(), "{bad}");
        }
        for (p, n) in Pause::ALL {
            assert_eq!(p.name(), n);
        }
    }
}
