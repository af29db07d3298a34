//! A statistics counter split over cache-padded slots, one per thread (modulo the slot count),
//! so that workers on different cores never contend on one cache line per command.

use std::sync::atomic::{AtomicU64, Ordering};

const SLOTS: usize = 16;

#[repr(align(64))]
#[derive(Default)]
struct Slot(AtomicU64);

#[derive(Default)]
pub struct Counter {
    slots: [Slot; SLOTS],
}

impl Counter {
    pub fn add(&self, n: u64) {
        self.slots[crate::alloc::thread_slot() % SLOTS]
            .0
            .fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    pub fn reset(&self) {
        for s in &self.slots {
            s.0.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Counter;

    #[test]
    fn sums_across_threads() {
        let c = std::sync::Arc::new(Counter::default());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| c.add(1)))
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(c.get(), 8000);
        c.reset();
        assert_eq!(c.get(), 0);
    }
}
