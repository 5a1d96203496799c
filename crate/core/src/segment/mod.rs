//! Segments (page-file format version 2): one file per buffer, prepared
//! ahead, grown by group commits (`pwrite` + one `fdatasync`), sealed with
//! an index and a trailer. See `docs/page-file-format.md`, "Format v2".

pub mod checkpoint;
pub mod file;
pub mod format;
pub mod reader;
#[cfg(test)]
pub(crate) mod sim;
pub mod writer;

pub use file::SegmentFile;
pub use format::{IndexEntry, SegmentHeader};
pub use reader::{
    read_record, recover, recover_dir, recover_trailer, scan_dir, scan_dir_checkpointed,
    scan_dir_indexed, CheckpointUse, DirRecovery, RecoveredSegment, SegmentReader,
};
pub use writer::{
    default_prealloc, seal_recovered, seal_recovered_on, CommitStats, SealInfo, SegmentWriter,
};

#[cfg(test)]
mod tests;
// Power loss (sim.rs) under commits from several threads and at every sync
// of a segment's life.
#[cfg(test)]
mod power_loss_tests;
