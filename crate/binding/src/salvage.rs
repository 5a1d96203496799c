//! `salvagePageFile`: one step of the core's salvage walk of a page file
//! that may be damaged (`photon-wb inspect`). Synchronous: it is for the
//! command-line tool, which reports progress between steps.

use std::path::Path;

use napi::bindgen_prelude::Uint32Array;
use napi_derive::napi;
use photon_wb_core::page_file::salvage::{salvage, Cursor};

use crate::error::{to_napi_error, ErrorCode};
use crate::layout::{record_entry, REC_WORDS};

/// What one step of the walk found.
#[napi(object)]
pub struct SalvageStep {
    /// The file's length.
    pub file_len: f64,
    /// The header's group id, capacity, allocated bytes and record count;
    /// absent when the header fails (`header_error`).
    pub group_id: Option<u32>,
    pub capacity: Option<u32>,
    pub allocated: Option<u32>,
    pub record_count: Option<u32>,
    pub header_error: Option<String>,
    /// The records of this step that passed their checks, `REC_WORDS`
    /// words each (`layout::record_entry`, `REC_POS` the body's position).
    pub entries: Uint32Array,
    /// Their checksums (each stored and computed alike).
    pub crcs: Uint32Array,
    /// Where the next step goes on (pass back).
    pub next_pos: f64,
    pub next_index: u32,
    pub next_prev_end: f64,
    /// The first record that fails: its file position and what fails.
    pub stop_pos: Option<f64>,
    pub stop: Option<String>,
    /// The walk is over.
    pub done: bool,
}

/// One step of the salvage walk of the page file at `path`, from the
/// cursor (`0, 0, 0` at the start), of at most `max_records` records. An
/// unreadable file throws its errno code; damage is `stop`.
#[napi]
pub fn salvage_page_file(
    path: String,
    pos: f64,
    index: u32,
    prev_end: f64,
    max_records: u32,
) -> Result<SalvageStep, napi::Error<ErrorCode>> {
    let from = Cursor {
        pos: pos as u64,
        index,
        prev_end: prev_end as u64,
    };
    let s = salvage(Path::new(&path), from, max_records.max(1) as usize).map_err(to_napi_error)?;
    let mut entries = Vec::with_capacity(s.records.len() * REC_WORDS as usize);
    let mut crcs = Vec::with_capacity(s.records.len());
    for r in &s.records {
        let h = r.head;
        let body = r.pos + photon_wb_core::page_file::format::RECORD_HEAD_LEN as u64;
        entries.extend_from_slice(&record_entry(h.offset, h.flags, h.page_size, h.data, body));
        crcs.push(r.crc);
    }
    let (header, header_error) = match s.header {
        Ok(h) => (Some(h), None),
        Err(e) => (None, Some(e)),
    };
    Ok(SalvageStep {
        file_len: s.file_len as f64,
        group_id: header.map(|h| h.group_id),
        capacity: header.map(|h| h.capacity),
        allocated: header.map(|h| h.allocated),
        record_count: header.map(|h| h.record_count),
        header_error,
        entries: Uint32Array::new(entries),
        crcs: Uint32Array::new(crcs),
        next_pos: s.next.pos as f64,
        next_index: s.next.index,
        next_prev_end: s.next.prev_end as f64,
        stop_pos: s.stop.as_ref().map(|(p, _)| *p as f64),
        stop: s.stop.map(|(_, why)| why),
        done: s.done,
    })
}
