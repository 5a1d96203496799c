//! The test-only fault switch of the writer: `PHOTON_WB_FAULT=<op>:<errno>`
//! (several separated by commas) makes step `<op>` of every
//! [`write_page_file`](super::write_page_file) fail with `<errno>` instead
//! of running, so the ENOSPC / EIO paths can be exercised on a machine whose
//! disk cannot be filled.
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

/// Which steps fail, with which errno name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    faults: Vec<(Step, &'static str)>,
}

impl FaultPlan {
    /// No fault: every step runs.
    pub const fn none() -> Self {
        FaultPlan { faults: Vec::new() }
    }

    /// Step `step` fails with `code` (an errno name such as `"ENOSPC"`).
    pub fn fail(mut self, step: Step, code: &'static str) -> Self {
        self.faults.push((step, code));
        self
    }

    /// Parses `op:ERRNO[,op:ERRNO...]`. An unknown op or errno is an
    /// [`Error::Io`] with code `EINVAL`, so a typo in a test fails loudly.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut plan = FaultPlan::none();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let parsed = part.split_once(':').and_then(|(op, code)| {
                let step = Step::ALL.into_iter().find(|s| s.name() == op.trim())?;
                Some((step, errno::lookup(code.trim())?))
            });
            match parsed {
                Some((step, code)) => plan = plan.fail(step, code),
                None => {
                    return Err(Error::Io {
                        code: "EINVAL",
                        message: format!(
                            "{FAULT_ENV}: cannot parse '{part}' (expected <open|write|sync|rename|dirsync>:<ERRNO>)"
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

    /// The injected error of `step`, if it is planned to fail.
    pub fn check(&self, step: Step, what: impl std::fmt::Display) -> Result<()> {
        match self.faults.iter().find(|(s, _)| *s == step) {
            Some((_, code)) => Err(Error::Io {
                code,
                message: format!(
                    "{what}: injected fault ({FAULT_ENV}={}:{code})",
                    step.name()
                ),
            }),
            None => Ok(()),
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
    fn fault_plan_parse_rejects_typos() {
        for bad in ["write", "write:", "wrte:EIO", "write:ENOPE", "write:enospc"] {
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
