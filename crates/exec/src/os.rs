//! Every system call that maps, protects or unmaps memory, and the one conversion from an
//! address to a function pointer: the platform's part of executable memory, in one place.
//!
//! [`Pages`] owns an anonymous private mapping and unmaps it when dropped. It is either
//! writable (read+write) or executable (read+execute), never both; the types above it
//! (`CodeBuffer`, `SealedCode`) decide when it changes.
//!
//! Code is mapped near the code that calls it: in the same 128 GiB-aligned block of addresses
//! as the program image (executable or shared object) this crate was linked into. On AMD Zen 3
//! (and, it seems, other cores whose branch predictor keeps only the low address bits of a
//! target), an indirect call or jump whose target's address bits 47..37 differ from its own
//! costs about 3 cycles more; a `ret` does not. `mmap(NULL, …)` puts code at 0x7f…, far from a
//! PIE at 0x55…/0x56…, so every call into it would pay. So a mapping is first tried just below
//! the image with `MAP_FIXED_NOREPLACE` (which never replaces what is there), walking down past
//! what is taken, then above the image beyond room for the heap; only when the block has no
//! room does it fall back to the kernel's choice, which is still correct, only slower to call.

use std::ffi::c_void;
use std::io;
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// (a power of two; a page or less means any page), where `placement` asks.
    pub(crate) fn map(len: usize, align: usize, placement: Placement) -> io::Result<Pages> {
        let page = page_size();
        let len = len.max(1).next_multiple_of(page);
        let align = align.max(page);
        debug_assert!(align.is_power_of_two());
        let start = match placement {
            Placement::Near => near::map(len, align)?,
            Placement::Anywhere => None,
        };
        let start = match start {
            Some(start) => start,
            None => map_anywhere(len, align)?,
        };
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
        let unmapped = unsafe { rustix::mm::munmap(self.start.as_ptr().cast(), self.len) };
        if unmapped.is_ok() {
            near::freed(self.address(), self.len);
        }
    }
}

/// Where [`Pages::map`] puts a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In the block of addresses of the code that calls it, when there is room (the default).
    Near,
    /// Wherever the kernel chooses (`mmap(NULL, …)`): for measuring what nearness is worth.
    Anywhere,
}

/// The size and alignment of the block of addresses within which an indirect call costs no
/// more than a direct one on Zen 3: address bits 47..37 are the same.
pub const BLOCK: usize = 1 << 37;

/// Whether code at `address` lies in the same [`BLOCK`] as the program image this crate was
/// linked into, so that calls from that image reach it at full speed.
pub fn near_callers(address: usize) -> bool {
    let image = near::image();
    address / BLOCK == image.start / BLOCK
}

/// A mapping of `len` bytes at a multiple of `align` where the kernel chooses: a larger one is
/// made and trimmed when the alignment is more than a page.
fn map_anywhere(len: usize, align: usize) -> io::Result<usize> {
    let span = if align > page_size() {
        len + align
    } else {
        len
    };
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
    Ok(start)
}

/// Mapping near the program image: two cursors, one walking down from the image's start and
/// one walking up from above its heap, each kept within the image's [`BLOCK`].
mod near {
    use super::*;

    /// The addresses the program image that holds this crate's code spans.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Image {
        pub start: usize,
        pub end: usize,
    }

    /// Room left above the image for its heap (`brk`), which grows up from just past it.
    const HEAP_ROOM: usize = 1 << 32;
    /// Nothing is mapped below this, whatever `vm.mmap_min_addr` allows.
    const FLOOR: usize = 1 << 24;
    /// How many taken addresses a mapping walks past before giving up on the block.
    const TRIES: usize = 24;

    /// The top of the free space below the image, as far as this process knows.
    static BELOW: AtomicUsize = AtomicUsize::new(0);
    /// The bottom of the free space above the image's heap room.
    static ABOVE: AtomicUsize = AtomicUsize::new(0);

    /// The image, read once from `/proc/self/maps`: every mapping of the file that holds
    /// this function. Without /proc, the page of this function stands for it.
    pub(super) fn image() -> Image {
        static IMAGE: OnceLock<Image> = OnceLock::new();
        *IMAGE.get_or_init(|| {
            let anchor = image as fn() -> Image as usize;
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
            let found = image_in(&maps, anchor).unwrap_or(Image {
                start: anchor & !(page_size() - 1),
                end: (anchor + 1).next_multiple_of(page_size()),
            });
            BELOW.store(found.start, Ordering::Relaxed);
            ABOVE.store(found.end + HEAP_ROOM, Ordering::Relaxed);
            found
        })
    }

    /// The span of the file mapped at `anchor`, from the text of a maps file.
    pub(super) fn image_in(maps: &str, anchor: usize) -> Option<Image> {
        let parse = |line: &str| {
            let mut fields = line.split_ascii_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let range =
                usize::from_str_radix(start, 16).ok()?..usize::from_str_radix(end, 16).ok()?;
            let file = (fields.nth(2)?.to_owned(), fields.next()?.to_owned());
            Some((range, file))
        };
        let mappings: Vec<_> = maps.lines().filter_map(parse).collect();
        let (_, file) = mappings.iter().find(|(range, _)| range.contains(&anchor))?;
        let same = mappings.iter().filter(|(_, f)| f == file && f.1 != "0");
        let start = same.clone().map(|(r, _)| r.start).min()?;
        let end = same.map(|(r, _)| r.end).max()?;
        Some(Image { start, end })
    }

    /// A mapping of `len` bytes at a multiple of `align` in the image's block, or `None` when
    /// the block has no room (or this kernel cannot place a mapping exactly).
    pub(super) fn map(len: usize, align: usize) -> io::Result<Option<usize>> {
        let image = image();
        let block = image.start / BLOCK * BLOCK;
        let (low, high) = (block.max(FLOOR), block + BLOCK);
        let mut step = len.max(1 << 20);
        for _ in 0..TRIES {
            let top = BELOW.load(Ordering::Relaxed);
            let Some(hint) = top.checked_sub(len).map(|h| h & !(align - 1)) else {
                break;
            };
            if hint < low {
                break;
            }
            match at(hint, len)? {
                Some(start) => {
                    BELOW.fetch_min(start, Ordering::Relaxed);
                    return Ok(Some(start));
                }
                None => {
                    // Something is there: go below it, further each time.
                    BELOW.fetch_min(hint.saturating_sub(step), Ordering::Relaxed);
                    step *= 2;
                }
            }
        }
        let mut step = len.max(1 << 20);
        for _ in 0..TRIES {
            let hint = ABOVE.load(Ordering::Relaxed).next_multiple_of(align);
            if hint + len > high {
                break;
            }
            match at(hint, len)? {
                Some(start) => {
                    ABOVE.fetch_max(start + len, Ordering::Relaxed);
                    return Ok(Some(start));
                }
                None => {
                    ABOVE.fetch_max(hint + step, Ordering::Relaxed);
                    step *= 2;
                }
            }
        }
        Ok(None)
    }

    /// Maps `len` bytes exactly at `hint`; `None` when something is there already.
    fn at(hint: usize, len: usize) -> io::Result<Option<usize>> {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping: the kernel refuses
        // with EEXIST instead, so the new mapping aliases nothing.
        let mapped = unsafe {
            rustix::mm::mmap_anonymous(
                hint as *mut c_void,
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::FIXED_NOREPLACE,
            )
        };
        match mapped {
            Ok(start) if start as usize == hint => Ok(Some(hint)),
            Ok(elsewhere) => {
                // A kernel before 4.17 takes the flag for a plain hint and may map elsewhere.
                // SAFETY: the mapping was just made and nothing refers to it.
                unsafe { rustix::mm::munmap(elsewhere, len) }?;
                Ok(None)
            }
            Err(rustix::io::Errno::EXIST) => Ok(None),
            Err(errno) => Err(errno.into()),
        }
    }

    /// Gives a freed mapping's addresses back when it was the last one taken on its side.
    pub(super) fn freed(start: usize, len: usize) {
        let _ = BELOW.compare_exchange(start, start + len, Ordering::Relaxed, Ordering::Relaxed);
        let _ = ABOVE.compare_exchange(start + len, start, Ordering::Relaxed, Ordering::Relaxed);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_image_is_every_mapping_of_its_file() {
            let maps = "\
55d0c3a00000-55d0c3a1e000 r--p 00000000 fd:01 1234 /usr/bin/prog
55d0c3a1e000-55d0c3b00000 r-xp 0001e000 fd:01 1234 /usr/bin/prog
55d0c3b00000-55d0c3b10000 rw-p 00100000 fd:01 1234 /usr/bin/prog
55d0c4000000-55d0c4100000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000010000 r-xp 00000000 fd:01 99 /usr/lib/libc.so.6
";
            let image = image_in(maps, 0x55d0c3a20000).unwrap();
            assert_eq!((image.start, image.end), (0x55d0c3a00000, 0x55d0c3b10000));
            assert!(image_in(maps, 0x1000).is_none());
        }

        #[test]
        fn code_is_mapped_in_the_callers_block() {
            let pages = Pages::map(4096, 0, Placement::Near).unwrap();
            assert!(near_callers(pages.address()), "{:#x}", pages.address());
            let image = image();
            assert!(pages.address() + 4096 <= image.start || pages.address() >= image.end);
            let aligned = Pages::map(4096, 1 << 16, Placement::Near).unwrap();
            assert!(aligned.address().is_multiple_of(1 << 16));
            assert!(near_callers(aligned.address()));
            let far = Pages::map(4096, 0, Placement::Anywhere).unwrap();
            assert!(!near_callers(far.address()), "{:#x}", far.address());
        }
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
