//! Borrowed arenas (the binding's `'js'` arena mode): a `WriteBuffer` over
//! memory Rust does not own works exactly like one over its own arena, writes
//! land in that memory, and dropping the buffer leaves the memory alone.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use photon_wb_core::{
    encode_page_file, Error, PageFile, RecordKind, ReleaseState, WriteBuffer, ARENA_ALIGN,
    HEADER_SIZE,
};

/// Memory owned by the test (standing in for a JS `SharedArrayBuffer`).
struct Owner {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Owner {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, ARENA_ALIGN).unwrap();
        // SAFETY: `len > 0` in every test.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) }).unwrap();
        Owner { ptr, layout }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `layout.size()` zero-initialised bytes owned by `self`; no
        // buffer writes to them while this slice is used.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with `layout`, freed once here.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

#[test]
fn borrowed_buffer_writes_into_the_owners_memory_and_never_frees_it() {
    let owner = Owner::new(1024);
    // SAFETY: 16-aligned, 1024 zeroed bytes that outlive `wb` (dropped first).
    let wb = unsafe { WriteBuffer::with_borrowed_arena(3, 1024, owner.ptr) }.unwrap();
    assert!(wb.is_borrowed());
    assert_eq!(wb.arena_ptr(), owner.ptr.as_ptr());

    let a = wb.alloc_page(7, 5, true).unwrap();
    // SAFETY: `a` is this writer's own reservation; nothing else touches it.
    unsafe { wb.page_mut(&a) }.copy_from_slice(b"hello");
    let b = wb.alloc_page(8, 3, false).unwrap();
    // SAFETY: as above.
    unsafe { wb.page_mut(&b) }.copy_from_slice(b"abc");
    assert_eq!(wb.release_writer().unwrap(), ReleaseState::None);
    assert_eq!(wb.seal().unwrap(), ReleaseState::Flush);

    // The bytes are in the owner's memory, right after each header.
    let mem = owner.bytes();
    let body = a.body() as usize;
    assert_eq!(&mem[body..body + 5], b"hello");
    assert_eq!(a.record, 0);
    assert_eq!(
        u64::from_le_bytes(mem[0..8].try_into().unwrap()),
        7,
        "page id in the header"
    );
    assert_eq!(
        &mem[b.record as usize + HEADER_SIZE as usize..][..3],
        b"abc"
    );

    let records: Vec<_> = wb.records().unwrap().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].kind, RecordKind::Page);
    assert_eq!(records[0].body(), b"hello");
    assert_eq!(records[1].body(), b"abc");
    // SAFETY: the buffer is flushable: no writer is in progress.
    assert_eq!(unsafe { wb.page(a.addr) }.unwrap(), b"hello");

    // A page file encoded from borrowed memory reads back the same pages.
    let file = PageFile::from_bytes(encode_page_file(&wb).unwrap()).unwrap();
    assert_eq!(file.group_id(), 3);
    assert_eq!(file.page(a.addr).unwrap(), b"hello");
    assert_eq!(file.page(b.addr).unwrap(), b"abc");

    drop(wb);
    // Still readable (and freed exactly once, by `owner`): the buffer's drop
    // did not free or clear it.
    assert_eq!(&owner.bytes()[body..body + 5], b"hello");
}

#[test]
fn borrowed_buffer_checks_capacity() {
    let owner = Owner::new(64);
    for bad in [0, 8, 24, 63] {
        // SAFETY: aligned and valid for 64 bytes; a refused capacity never
        // touches it.
        let r = unsafe { WriteBuffer::with_borrowed_arena(0, bad, owner.ptr) };
        assert!(
            matches!(r, Err(Error::InvalidCapacity(c)) if c == bad as u64),
            "{bad}"
        );
    }
}

#[test]
#[should_panic(expected = "aligned")]
fn borrowed_buffer_refuses_a_misaligned_arena() {
    let owner = Owner::new(64);
    // SAFETY: 8 bytes in, 32 bytes stay inside the allocation; the
    // constructor panics on the alignment before using it.
    let p = unsafe { NonNull::new_unchecked(owner.ptr.as_ptr().add(8)) };
    // SAFETY: see above (the alignment is deliberately wrong).
    let _ = unsafe { WriteBuffer::with_borrowed_arena(0, 32, p) };
}
