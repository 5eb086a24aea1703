//! The heap the process holds, counted as it allocates: the run's memory limit reads it after every
//! script operation at the cost of one atomic load, whatever the size of what the script has built.
//! (Rhai's own size limits measure the whole value an operation returns, so that with them each
//! `push` costs as much as the array it grows: a list built in a loop took time with its square.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes it has handed out and not yet taken back.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the count is bookkeeping beside it and never touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator (so by System) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by System with `layout`; the caller guarantees `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Bytes of heap the process holds now.
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// A size as people write it: `512MiB`, `2GiB`, `800k`, or bytes. The units are binary (KiB =
/// 1024 bytes), however they are spelt.
pub fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: usize = t[..digits].parse().ok()?;
    let shift = match t[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    n.checked_mul(1usize << shift)
}

/// A size as `runbook` says it: `512 MiB`, `2.0 GiB`.
pub fn show_size(bytes: usize) -> String {
    const G: f64 = (1u64 << 30) as f64;
    const M: f64 = (1u64 << 20) as f64;
    let b = bytes as f64;
    if b >= G {
        format!("{:.1} GiB", b / G)
    } else if b >= M {
        format!("{:.1} MiB", b / M)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("2gb"), Some(2 << 30));
        assert_eq!(parse_size("800k"), Some(800 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("2 GiB"), Some(2 << 30));
        for wrong in ["", "GiB", "2x", "2ib", "-1", "1.5G", "2Gi", "2 G B"] {
            assert_eq!(parse_size(wrong), None, "{wrong}");
        }
        assert_eq!(show_size(2 << 30), "2.0 GiB");
        assert_eq!(show_size(300 << 20), "300.0 MiB");
    }

    #[test]
    fn the_count_follows_what_is_held() {
        // 256 MiB asked, with 64 MiB of slack for what other threads do meanwhile.
        let before = live();
        let v: Vec<u8> = Vec::with_capacity(256 << 20);
        let during = live();
        drop(v);
        let after = live();
        assert!(during >= before + (192 << 20), "{before} then {during}");
        assert!(after + (192 << 20) <= during, "{during} then {after}");
    }
}
