//! The harness binary's allocator: mimalloc for the harness itself (its
//! clients and the bench's load generator, quinn-proto and rustls, spend
//! about a tenth of their time in the C library's malloc), the system's for
//! the built-in servers it starts as its own subcommands, so that they run
//! as their own programs (`quic-echo-server`, `quinn-echo`) do and the bench
//! does not measure a server on an allocator it does not ship with.
//!
//! The choice is made once, at the process's first allocation, from the
//! environment ([`SYSTEM_ALLOCATOR_ENV`], which the harness sets when it
//! starts a built-in server); reading it with `getenv` allocates nothing,
//! and every later allocation and free goes to the same allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

use mimalloc::MiMalloc;

/// Set (to anything) in a process's environment: it allocates with the
/// system allocator.
pub const SYSTEM_ALLOCATOR_ENV: &str = "HARNESS_SYSTEM_ALLOCATOR";
const SYSTEM_ALLOCATOR_ENV_C: &std::ffi::CStr = c"HARNESS_SYSTEM_ALLOCATOR";

const UNSET: u8 = 0;
const MI: u8 = 1;
const SYS: u8 = 2;

/// Which allocator a process whose environment does (or does not) hold
/// [`SYSTEM_ALLOCATOR_ENV`] uses.
fn choose(system_requested: bool) -> u8 {
    match system_requested {
        true => SYS,
        false => MI,
    }
}

/// The global allocator of the harness binary (see the module's docs).
pub struct Chosen {
    choice: AtomicU8,
}

impl Chosen {
    pub const fn new() -> Chosen {
        Chosen {
            choice: AtomicU8::new(UNSET),
        }
    }

    /// The allocator, chosen on first use. Only the first allocation (one
    /// thread, before `main`) can find it unset.
    fn mimalloc(&self) -> bool {
        let mut c = self.choice.load(Ordering::Relaxed);
        if c == UNSET {
            // SAFETY: a NUL-terminated name; getenv neither allocates nor
            // keeps the pointer.
            let set = unsafe { !libc::getenv(SYSTEM_ALLOCATOR_ENV_C.as_ptr()).is_null() };
            c = choose(set);
            self.choice.store(c, Ordering::Relaxed);
        }
        c == MI
    }
}

impl Default for Chosen {
    fn default() -> Chosen {
        Chosen::new()
    }
}

// SAFETY: every call goes to one allocator for the whole process (the
// choice never changes once made), which upholds GlobalAlloc's contract.
unsafe impl GlobalAlloc for Chosen {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.mimalloc() {
            true => MiMalloc.alloc(layout),
            false => System.alloc(layout),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.mimalloc() {
            true => MiMalloc.alloc_zeroed(layout),
            false => System.alloc_zeroed(layout),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.mimalloc() {
            true => MiMalloc.dealloc(ptr, layout),
            false => System.dealloc(ptr, layout),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match self.mimalloc() {
            true => MiMalloc.realloc(ptr, layout, new_size),
            false => System.realloc(ptr, layout, new_size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_selects_the_system_allocator_and_its_absence_mimalloc() {
        assert_eq!(choose(true), SYS);
        assert_eq!(choose(false), MI);
        assert_eq!(SYSTEM_ALLOCATOR_ENV_C.to_str(), Ok(SYSTEM_ALLOCATOR_ENV));
    }

    #[test]
    fn both_allocators_allocate_and_free() {
        for c in [MI, SYS] {
            let a = Chosen {
                choice: AtomicU8::new(c),
            };
            let layout = Layout::from_size_align(64, 16).unwrap();
            // SAFETY: a non-zero layout; freed with the allocator and
            // layout it came from.
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert_eq!(*p, 0);
                let p = a.realloc(p, layout, 128);
                assert!(!p.is_null());
                a.dealloc(p, Layout::from_size_align(128, 16).unwrap());
            }
        }
    }
}
