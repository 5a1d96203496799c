//! Page files: the durable, checksummed form of a flushed write buffer
//! (format described in `docs/page-file-format.md`).

pub mod encode;
pub mod errno;
pub mod fault;
pub mod format;
#[doc(hidden)]
pub mod fuzz;
pub mod reader;
#[doc(hidden)]
pub mod sample;
pub mod writer;

pub use encode::encode_page_file;
pub use fault::{FaultPlan, Step, FAULT_ENV};
pub use reader::{FileRecord, FileRecordIter, PageFile};
pub use writer::{write_page_file, write_page_file_with, FlushStats};
