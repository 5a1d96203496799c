//! Page files: the durable, checksummed form of a flushed write buffer
//! (format described in `docs/page-file-format.md`).

pub mod encode;
pub mod errno;
// The writer's test hooks: public only in a test build; in a release build
// a private module of no-op functions.
#[cfg(any(test, feature = "test-hooks"))]
pub mod fault;
#[cfg(not(any(test, feature = "test-hooks")))]
pub(crate) mod fault;
pub mod format;
// Test harnesses, not API: compiled for this crate's unit tests and with the
// `test-hooks` feature (the fuzz example needs them), never in a release build.
#[cfg(any(test, feature = "test-hooks"))]
pub mod fuzz;
pub mod reader;
pub mod salvage;
#[cfg(any(test, feature = "test-hooks"))]
pub mod sample;
pub mod writer;

pub use encode::encode_page_file;
#[cfg(any(test, feature = "test-hooks"))]
pub use fault::{FaultPlan, Step, FAULT_ENV};
pub use reader::{FileRecord, FileRecordIter, PageFile};
pub use writer::{write_page_file, FlushStats};
