//! Keeping memory under `maxmemory` (Redis's `performEvictions`): before each command, and
//! from the cron thread when a round ran out of time, keys chosen by `maxmemory-policy` are
//! deleted until the allocator's count is under the limit.
//!
//! Every connection thread may evict: each eviction takes one database's write lock
//! briefly, like any write, so clients keep being served while memory is reclaimed.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::state::Shared;
use crate::store::evict::{Policy, Request};

/// How a round of eviction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Under the limit (or no limit).
    Ok,
    /// Still over, but keys are being evicted: its time ran out, the cron goes on.
    Running,
    /// Over the limit with nothing left that the policy may evict (or `noeviction`).
    Fail,
}

/// Evicts until memory is under `maxmemory`, the policy has nothing left to evict, or the
/// round's time (`maxmemory-eviction-tenacity`) is up.
pub fn perform(shared: &Shared) -> Outcome {
    let outcome = crate::latency::measure("eviction-cycle", || round(shared));
    shared
        .evicting
        .store(outcome == Outcome::Running, Ordering::Relaxed);
    outcome
}

/// The cron's part: a round that ran out of time, or a lower `maxmemory` just set, goes on in
/// the background (Redis's `evictionTimeProc`), so memory comes down even if no command
/// arrives.
pub fn start_in_background(shared: &Shared) {
    shared.evicting.store(true, Ordering::Relaxed);
}

pub fn resume(shared: &Shared) {
    if shared.evicting.load(Ordering::Relaxed) {
        perform(shared);
    }
}

#[allow(clippy::disallowed_methods)] // a round's own time limit, not a command's instant
fn round(shared: &Shared) -> Outcome {
    let config = &shared.config;
    // Redis's isSafeToPerformEvictions: a paused data set stays as it is, expiry and
    // eviction included.
    if shared.pause.may_be_paused()
        && shared
            .pause
            .in_force(crate::store::clock::unix_ms())
            .is_some()
    {
        return Outcome::Ok;
    }
    let max = config.maxmemory();
    if max == 0 || crate::alloc::used_memory() as u64 <= max {
        return Outcome::Ok;
    }
    let policy = config.maxmemory_policy();
    if policy == Policy::NoEviction {
        return Outcome::Fail;
    }
    let req = Request {
        policy,
        samples: config.maxmemory_samples(),
        access: config.access(),
        notify: config.notify_keyspace_events(),
    };
    let limit = config.eviction_time_limit();
    let start = Instant::now();
    let mut freed = 0u64;
    loop {
        let Some(entry) = shared.store.evict_one(&shared.evictor, req) else {
            shared
                .stats
                .evicted_keys
                .fetch_add(freed, Ordering::Relaxed);
            return Outcome::Fail;
        };
        // Dropped here, after the database lock: the count below sees the memory back.
        drop(entry);
        freed += 1;
        if crate::alloc::used_memory() as u64 <= max {
            break;
        }
        // Redis looks at the clock every 16 keys.
        if freed.is_multiple_of(16) && limit.is_some_and(|l| start.elapsed() > l) {
            shared
                .stats
                .evicted_keys
                .fetch_add(freed, Ordering::Relaxed);
            return Outcome::Running;
        }
    }
    shared
        .stats
        .evicted_keys
        .fetch_add(freed, Ordering::Relaxed);
    Outcome::Ok
}
