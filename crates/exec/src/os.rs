//! Every system call that maps, protects or unmaps memory, and the one conversion from an
//! address to a function pointer: the platform's part of executable memory, in one place.
//!
//! [`Pages`] owns an anonymous private mapping and unmaps it when dropped. It is either
//! writable (read+write) or executable (read+execute), never both; the types above it
//! (`CodeBuffer`, `SealedCode`) decide when it changes.

use std::ffi::c_void;
use std::io;
use std::ptr::NonNull;

use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

use crate::buffer::FnPtr;

/// The size of a page on this system.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// An anonymous private mapping, read+write or read+execute.
#[derive(Debug)]
pub(crate) struct Pages {
    start: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: `Pages` is plain memory owned by this value; shared access only reads it, and writing
// needs `&mut self`, as for a `Vec<u8>`.
unsafe impl Send for Pages {}
// SAFETY: as above.
unsafe impl Sync for Pages {}

impl Pages {
    /// Maps at least `len` bytes (a whole number of pages), read+write, at a multiple of `align`
    /// (a power of two; a page or less means any page).
    pub(crate) fn map(len: usize, align: usize) -> io::Result<Pages> {
        let page = page_size();
        let len = len.max(1).next_multiple_of(page);
        let align = align.max(page);
        debug_assert!(align.is_power_of_two());
        let span = if align > page { len + align } else { len };
        // SAFETY: a new anonymous mapping at an address of the kernel's choosing aliases nothing.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                span,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }?;
        let start = (base as usize).next_multiple_of(align);
        let head = start - base as usize;
        let tail = span - head - len;
        // SAFETY: both ranges lie inside the mapping just made, outside the part kept, and
        // nothing refers to them.
        unsafe {
            if head > 0 {
                rustix::mm::munmap(base, head)?;
            }
            if tail > 0 {
                rustix::mm::munmap((start + len) as *mut c_void, tail)?;
            }
        }
        let start = NonNull::new(start as *mut u8).expect("mmap never returns address 0 here");
        Ok(Pages {
            start,
            len,
            writable: true,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn address(&self) -> usize {
        self.start.as_ptr() as usize
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes (read+write or read+execute) owned by
        // `self`, and nothing writes it while this shared borrow lives.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }

    /// The bytes, to write. Only a writable mapping is handed out.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        assert!(self.writable, "executable pages are never written");
        // SAFETY: the mapping is `len` writable bytes owned by `self`, borrowed uniquely.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }

    /// Makes the whole mapping read+execute (`executable`) or read+write.
    pub(crate) fn protect(&mut self, executable: bool) -> io::Result<()> {
        let flags = if executable {
            MprotectFlags::READ | MprotectFlags::EXEC
        } else {
            MprotectFlags::READ | MprotectFlags::WRITE
        };
        // SAFETY: the range is exactly this mapping, which `self` owns; no `&mut` into it lives
        // (`bytes_mut` borrows `self`).
        unsafe { rustix::mm::mprotect(self.start.as_ptr().cast(), self.len, flags) }?;
        self.writable = !executable;
        Ok(())
    }

    /// Gives the mapping up for the life of the process: it is never unmapped, so an address
    /// into it stays valid. Returns its start.
    pub(crate) fn leak(self) -> usize {
        let address = self.address();
        std::mem::forget(self);
        address
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by `self` and every borrow of it has ended. An error
        // cannot be reported from drop, and the memory is then merely kept.
        let _ = unsafe { rustix::mm::munmap(self.start.as_ptr().cast(), self.len) };
    }
}

/// The function pointer of type `F` for the code at `address`.
///
/// # Safety
/// `address` must be the start of a function, in executable memory, that follows the System V
/// x86-64 calling convention for the signature `F`, and it must stay mapped while the pointer
/// is used.
pub(crate) unsafe fn fn_at<F: FnPtr>(address: usize) -> F {
    const { assert!(size_of::<F>() == size_of::<usize>()) };
    // SAFETY: every FnPtr is a plain function pointer, the size of an address (asserted
    // above), and the caller promises the code there matches `F`.
    unsafe { std::mem::transmute_copy::<usize, F>(&address) }
}
