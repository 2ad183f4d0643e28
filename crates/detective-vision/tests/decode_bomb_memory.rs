//! A decompression bomb must be refused without allocating more than a few MB.
//!
//! This file holds a single test so the counting allocator sees nothing else.

#[path = "vision/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use detective_vision::{DecodeLimits, VisionError, decode_image};

struct PeakCounter;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for PeakCounter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOC: PeakCounter = PeakCounter;

#[test]
fn png_declaring_fifty_thousand_squared_is_refused_within_a_few_megabytes() {
    let bomb = common::png_declaring(50_000, 50_000);
    assert!(bomb.len() < 1024, "the bomb itself is tiny: {} bytes", bomb.len());
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let result = decode_image(&bomb, &DecodeLimits::default());
    let peak = PEAK.load(Ordering::SeqCst) - before;
    assert!(
        matches!(
            result,
            Err(VisionError::TooManyPixels {
                width: 50_000,
                height: 50_000,
                ..
            })
        ),
        "{result:?}"
    );
    println!("peak extra heap while refusing a 50000×50000 PNG: {peak} bytes");
    assert!(peak < 4 * 1024 * 1024, "peak heap {peak} bytes");
}
