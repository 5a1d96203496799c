//! Page files: the durable, checksummed form of a flushed write buffer
//! (format described in `docs/page-file-format.md`).

pub mod encode;
pub mod errno;
pub mod fault;
pub mod format;
// Test harnesses, not API: compiled for this crate's unit tests and with the
// `test-hooks` feature (the fuzz example needs them), never in a release build.
#[cfg(any(test, feature = "test-hooks"))]
pub mod fuzz;
pub mod reader;
#[cfg(any(test, feature = "test-hooks"))]
pub mod sample;
pub mod writer;

pub use encode::encode_page_file;
pub use fault::Step;
#[cfg(any(test, feature = "test-hooks"))]
pub use fault::{FaultPlan, FAULT_ENV};
pub use reader::{FileRecord, FileRecordIter, PageFile};
pub use writer::{write_page_file, FlushStats};
