//! The test-only fault switch of the writer: `PHOTON_WB_FAULT=<op>:<errno>`
//! (several separated by commas) makes step `<op>` of every
//! [`write_page_file`](super::write_page_file) fail with `<errno>` instead
//! of running, so the ENOSPC / EIO paths can be exercised on a machine whose
//! disk cannot be filled.
//!
//! `<op>:delay=<ms>` instead makes step `<op>` wait `<ms>` milliseconds and
//! then run (a slow disk, for backpressure tests).
//!
//! Steps, in order: `open` (create the temp file), `write` (half the bytes
//! are written, then the error), `sync` (fdatasync of the file), `rename`
//! (the temp file to the final name), `dirsync` (fsync of the directory).
//! Errno names are those of [`super::errno::NAMES`].
//!
//! Never set it outside tests: every flush of the process would fail. It is
//! read once per flush; set it before starting a flush, not during one.

use super::errno;
use crate::error::{Error, Result};

/// The environment variable of the fault switch.
pub const FAULT_ENV: &str = "PHOTON_WB_FAULT";

/// A step of the durable write.
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
                    Some(ms) => Fault::Delay(std::time::Duration::from_millis(ms.parse().ok()?)),
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
}
