//! Latency diagnostics: the per-command histograms behind INFO latencystats and LATENCY
//! HISTOGRAM, and the event monitor behind LATENCY LATEST|HISTORY|GRAPH|DOCTOR|RESET.
//!
//! The histograms keep Redis's figures: durations in nanoseconds, clamped to 1 ns .. 1 s, in
//! the buckets of an HDR histogram with two significant digits (what Redis's hdr_histogram
//! does with `LATENCY_HISTOGRAM_PRECISION` 2), so percentiles and the CDF come out at the same
//! values. Each is a flat array of atomic counters, made on a command's first call, and
//! recorded into without a lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

/// Values below this are exact; above, each power of two has `HALF` sub-buckets.
const SUB_BUCKETS: u64 = 256;
const HALF: u64 = SUB_BUCKETS / 2;
/// log2(HALF).
const SUB_BITS: u32 = 7;
/// Redis's LATENCY_HISTOGRAM_MAX_VALUE: 1 s in ns.
pub const MAX_NS: u64 = 1_000_000_000;
/// Enough counters for values up to MAX_NS (2^30 > 1e9): buckets 0..=23, plus one.
const COUNTS: usize = ((30 - SUB_BITS as usize) + 2) * HALF as usize;

/// The counter a value falls in (HDR's `counts_index_for`).
fn index_of(v: u64) -> usize {
    let bucket = (63 - (v | (SUB_BUCKETS - 1)).leading_zeros()) - SUB_BITS;
    let sub = v >> bucket;
    ((bucket as u64 + 1) * HALF + sub - HALF) as usize
}

/// The lowest value counted at `idx` and the size of its range (HDR's
/// `value_at_index` and `size_of_equivalent_value_range`).
fn range_at(idx: usize) -> (u64, u64) {
    let mut bucket = (idx as i64 >> SUB_BITS) - 1;
    let mut sub = (idx as u64 & (HALF - 1)) + HALF;
    if bucket < 0 {
        sub -= HALF;
        bucket = 0;
    }
    (sub << bucket, 1 << bucket)
}

/// The highest value equivalent to `v` (same counter).
fn highest_equivalent(v: u64) -> u64 {
    let (low, size) = range_at(index_of(v));
    low + size - 1
}

/// One command's durations. The total is summed when read (INFO, LATENCY), not kept: a
/// counter every call of a hot command bumps would bounce between cores.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: (0..COUNTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records a duration in nanoseconds (clamped as Redis clamps it).
    pub fn record(&self, ns: u64) {
        let v = ns.clamp(1, MAX_NS);
        self.counts[index_of(v)].fetch_add(1, Ordering::Relaxed);
    }

    /// The calls recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// The value at a percentile, in ns (HDR's `hdr_value_at_percentile`: the highest value of
    /// the counter where the running count reaches the percentile's share, the lowest for 0).
    pub fn percentile(&self, p: f64) -> u64 {
        let total = self.total();
        let wanted = (((p.min(100.0) / 100.0) * total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut running = 0;
        let mut at = 0;
        for (i, c) in self.counts.iter().enumerate() {
            running += c.load(Ordering::Relaxed);
            at = i;
            if running >= wanted {
                break;
            }
        }
        let (low, size) = range_at(at);
        if p == 0.0 {
            low
        } else {
            low + size - 1
        }
    }

    /// LATENCY HISTOGRAM's cumulative distribution: (µs, calls at or below) at 1024 ns and
    /// each doubling after it, where the count grows (Redis's `fillCommandCDF`, an HDR log
    /// iteration from 1024 ns with base 2).
    pub fn cdf(&self) -> Vec<(u64, u64)> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let mut out = Vec::new();
        let (mut level, mut running, mut next, mut prev) = (1024u64, 0u64, 0usize, 0u64);
        while prev < total && level <= MAX_NS * 2 {
            let upto = index_of(level).min(COUNTS - 1);
            while next <= upto {
                running += counts[next];
                next += 1;
            }
            if running > prev {
                out.push((highest_equivalent(level) / 1000, running));
                prev = running;
            }
            level *= 2;
        }
        out
    }
}

/// Every command's histogram, by commandstats index.
#[derive(Default)]
pub struct Histograms {
    by_stat: OnceLock<Vec<OnceLock<Histogram>>>,
}

impl Histograms {
    fn all(&self, len: usize) -> &[OnceLock<Histogram>] {
        self.by_stat
            .get_or_init(|| (0..len).map(|_| OnceLock::new()).collect())
    }

    /// Records a call of stat index `i` (of `len`) that took `ns`.
    pub fn record(&self, i: usize, len: usize, ns: u64) {
        if let Some(slot) = self.all(len).get(i) {
            slot.get_or_init(Histogram::new).record(ns);
        }
    }

    /// The histogram of stat index `i`, if it has calls.
    pub fn get(&self, i: usize, len: usize) -> Option<&Histogram> {
        self.all(len).get(i)?.get().filter(|h| h.total() > 0)
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        if let Some(all) = self.by_stat.get() {
            for h in all.iter().filter_map(OnceLock::get) {
                h.reset();
            }
        }
    }
}

/// `latency-monitor-threshold` in ms (0: the monitor is off), for the code that measures
/// events (the cron, persistence) without the configuration at hand.
static THRESHOLD_MS: AtomicU64 = AtomicU64::new(0);

/// The process's latency monitor.
pub fn monitor() -> &'static Monitor {
    static MONITOR: OnceLock<Monitor> = OnceLock::new();
    MONITOR.get_or_init(Monitor::default)
}

/// Takes a new `latency-monitor-threshold`.
pub fn set_threshold(ms: u64) {
    THRESHOLD_MS.store(ms, Ordering::Relaxed);
}

pub fn threshold() -> u64 {
    THRESHOLD_MS.load(Ordering::Relaxed)
}

/// Redis's `latencyAddSampleIfNeeded`: records `event` if it took at least the threshold.
pub fn sample_if_needed(event: &str, ms: u64) {
    let t = threshold();
    if t > 0 && ms >= t {
        #[allow(clippy::disallowed_methods)] // the sample's wall-clock second, as time(NULL)
        let now = crate::store::clock::unix_ms() / 1000;
        monitor().add(event, ms, now);
    }
}

/// Measures `f` as `event` (a no-op clock read when the monitor is off).
#[allow(clippy::disallowed_methods)] // a duration, not a command's time
pub fn measure<T>(event: &str, f: impl FnOnce() -> T) -> T {
    if threshold() == 0 {
        return f();
    }
    let start = std::time::Instant::now();
    let out = f();
    sample_if_needed(event, start.elapsed().as_millis() as u64);
    out
}

/// Redis's LATENCY_TS_LEN: samples kept per event (one per second at most).
const SERIES_LEN: usize = 160;
/// Redis's LATENCY_GRAPH_COLS.
const GRAPH_COLS: usize = 80;

#[derive(Clone, Copy, Default)]
struct Sample {
    time: i64,
    ms: u64,
}

/// One event's samples, a ring, and its all-time maximum.
struct Series {
    samples: [Sample; SERIES_LEN],
    next: usize,
    max: u64,
}

/// The latency monitor: events whose duration reached `latency-monitor-threshold`.
#[derive(Default)]
pub struct Monitor {
    events: Mutex<BTreeMap<String, Series>>,
}

/// Statistics of one event for the doctor (Redis's `analyzeLatencyForEvent`).
struct Analysis {
    samples: u64,
    avg: u64,
    mad: u64,
    period: i64,
}

impl Monitor {
    /// Adds a sample at Unix second `now` (Redis's `latencyAddSample`): one per second, the
    /// worst of that second.
    pub fn add(&self, event: &str, ms: u64, now: i64) {
        let mut events = self.events.lock();
        let s = events.entry(event.to_string()).or_insert_with(|| Series {
            samples: [Sample::default(); SERIES_LEN],
            next: 0,
            max: 0,
        });
        s.max = s.max.max(ms);
        let prev = (s.next + SERIES_LEN - 1) % SERIES_LEN;
        if s.samples[prev].time == now {
            s.samples[prev].ms = s.samples[prev].ms.max(ms);
            return;
        }
        s.samples[s.next] = Sample { time: now, ms };
        s.next = (s.next + 1) % SERIES_LEN;
    }

    /// Forgets every event (`None`) or one, by name, case-insensitively; how many went.
    pub fn reset(&self, event: Option<&[u8]>) -> usize {
        let mut events = self.events.lock();
        let before = events.len();
        events.retain(|name, _| event.is_some_and(|e| !name.as_bytes().eq_ignore_ascii_case(e)));
        before - events.len()
    }

    /// LATENCY LATEST: (event, time of the last sample, its ms, the all-time max).
    pub fn latest(&self) -> Vec<(String, i64, u64, u64)> {
        self.events
            .lock()
            .iter()
            .map(|(name, s)| {
                let last = s.samples[(s.next + SERIES_LEN - 1) % SERIES_LEN];
                (name.clone(), last.time, last.ms, s.max)
            })
            .collect()
    }

    /// LATENCY HISTORY: the event's samples, oldest first; None if it has none.
    pub fn history(&self, event: &[u8]) -> Option<Vec<(i64, u64)>> {
        let events = self.events.lock();
        let s = events.get(std::str::from_utf8(event).ok()?)?;
        Some(Self::ordered(s).map(|x| (x.time, x.ms)).collect())
    }

    fn ordered(s: &Series) -> impl Iterator<Item = Sample> + '_ {
        (0..SERIES_LEN)
            .map(move |j| s.samples[(s.next + j) % SERIES_LEN])
            .filter(|x| x.time != 0)
    }

    /// LATENCY GRAPH: Redis's sparkline of the event's samples, labelled with how long ago
    /// each was; None if the event has no samples.
    pub fn graph(&self, event: &[u8], now: i64) -> Option<String> {
        let events = self.events.lock();
        let (name, s) = events.iter().find(|(name, _)| name.as_bytes() == event)?;
        let samples: Vec<Sample> = Self::ordered(s).collect();
        let min = samples.iter().map(|x| x.ms).min().unwrap_or(0);
        let max = samples.iter().map(|x| x.ms).max().unwrap_or(0);
        let mut out = format!(
            "{name} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
            s.max,
            "-".repeat(GRAPH_COLS)
        );
        let points: Vec<(f64, String)> = samples
            .iter()
            .map(|x| (x.ms as f64, ago(now - x.time)))
            .collect();
        for (n, chunk) in points.chunks(GRAPH_COLS).enumerate() {
            if n > 0 {
                out.push('\n');
            }
            sparkline(&mut out, chunk, min as f64, max as f64, 4);
        }
        Some(out)
    }

    fn analyze(s: &Series, now: i64) -> Analysis {
        let samples: Vec<Sample> = Self::ordered(s).collect();
        let n = samples.len() as u64;
        if n == 0 {
            return Analysis {
                samples: 0,
                avg: 0,
                mad: 0,
                period: 0,
            };
        }
        let sum: u64 = samples.iter().map(|x| x.ms).sum();
        let avg = sum / n;
        let oldest = samples.iter().map(|x| x.time).min().unwrap_or(now);
        let period = (now - oldest).max(1);
        let mad = samples.iter().map(|x| x.ms.abs_diff(avg)).sum::<u64>() / n;
        Analysis {
            samples: n,
            avg,
            mad,
            period,
        }
    }

    /// LATENCY DOCTOR: Redis's report, its event lines and the advice that applies.
    pub fn doctor(&self, facts: &DoctorFacts, now: i64) -> String {
        let events = self.events.lock();
        if events.is_empty() && facts.threshold_ms == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
        }
        let mut report = String::new();
        let mut advice: Vec<Advice> = Vec::new();
        for (n, (name, s)) in events.iter().enumerate() {
            if n == 0 {
                report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
            }
            let a = Self::analyze(s, now);
            report.push_str(&format!(
                "{}. {name}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
                n + 1,
                a.samples,
                a.avg,
                a.mad,
                a.period as f64 / a.samples.max(1) as f64,
                s.max
            ));
            match name.as_str() {
                "fork" => {
                    let rate = facts.fork_rate_gb_s;
                    let quality = match rate {
                        r if r < 10.0 => "terrible",
                        r if r < 25.0 => "poor",
                        r if r < 100.0 => "good",
                        _ => "excellent",
                    };
                    if rate < 25.0 {
                        advice.push(Advice::BetterVm);
                    }
                    report.push_str(&format!(" Fork rate is {rate:.2} GB/sec ({quality})."));
                }
                "command" => {
                    if facts.slowlog_slower_than_us < 0 {
                        advice.push(Advice::SlowlogEnable);
                    } else if facts.slowlog_slower_than_us / 1000 > facts.threshold_ms as i64 {
                        advice.push(Advice::SlowlogTune);
                    }
                    advice.extend([Advice::SlowlogInspect, Advice::LargeObjects]);
                }
                "fast-command" => advice.push(Advice::Scheduler),
                "aof-fsync-always" => advice.push(Advice::RelaxFsync),
                "aof-write" => advice.extend([Advice::LocalDisk, Advice::Ssd]),
                "expire-cycle" => advice.extend([Advice::Hz, Advice::LargeObjects]),
                "eviction-del" => advice.push(Advice::LargeObjects),
                "eviction-cycle" => advice.push(Advice::MassEviction),
                _ => {}
            }
            report.push('\n');
        }
        // Not tied to an event: the process has transparent huge pages (`disable-thp no`).
        if facts.anon_huge_pages > 0 {
            advice.push(Advice::DisableThp);
        }
        // Redis counts an advice when its event is seen, and prints some only when a setting
        // calls for them: the header may then stand over no advice at all.
        let advised = !advice.is_empty();
        advice.retain(|a| match a {
            Advice::RelaxFsync => facts.fsync_always,
            Advice::Hz => facts.hz < 100,
            _ => true,
        });
        if events.is_empty() && !advised {
            report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        } else if !advised {
            report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        } else {
            report.push_str("\nI have a few advices for you:\n\n");
            for a in ADVICE_ORDER {
                if advice.contains(&a) {
                    report.push_str(&a.text(facts.threshold_ms));
                }
            }
        }
        report
    }
}

/// What the doctor's advice depends on, from the server's settings and statistics.
pub struct DoctorFacts {
    pub threshold_ms: u64,
    pub slowlog_slower_than_us: i64,
    pub fork_rate_gb_s: f64,
    pub fsync_always: bool,
    pub hz: usize,
    /// Bytes of anonymous memory in transparent huge pages.
    pub anon_huge_pages: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Advice {
    BetterVm,
    SlowlogEnable,
    SlowlogTune,
    SlowlogInspect,
    Scheduler,
    LocalDisk,
    Ssd,
    RelaxFsync,
    Hz,
    LargeObjects,
    MassEviction,
    DisableThp,
}

/// The order Redis prints its advice in.
const ADVICE_ORDER: [Advice; 12] = [
    Advice::BetterVm,
    Advice::SlowlogEnable,
    Advice::SlowlogTune,
    Advice::SlowlogInspect,
    Advice::Scheduler,
    Advice::LocalDisk,
    Advice::Ssd,
    Advice::RelaxFsync,
    Advice::Hz,
    Advice::LargeObjects,
    Advice::MassEviction,
    Advice::DisableThp,
];

impl Advice {
    fn text(self, threshold_ms: u64) -> String {
        match self {
            Advice::BetterVm => "- If you are using a virtual machine, consider upgrading it with a faster one using a hypervisior that provides less latency during fork() calls. Xen is known to have poor fork() performance. Even in the context of the same VM provider, certain kinds of instances can execute fork faster than others.\n".into(),
            Advice::SlowlogEnable => format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", threshold_ms * 1000),
            Advice::SlowlogTune => format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold_ms * 1000),
            Advice::SlowlogInspect => "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n".into(),
            Advice::Scheduler => "- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n".into(),
            Advice::LocalDisk => "- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n".into(),
            Advice::Ssd => "- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n".into(),
            Advice::RelaxFsync => "- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n".into(),
            Advice::Hz => "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n".into(),
            Advice::LargeObjects => "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n".into(),
            Advice::MassEviction => "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n".into(),
            Advice::DisableThp => "- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n".into(),
        }
    }
}

/// How long ago, as the graph labels it: `12s`, `3m`, `5h`, `2d`.
fn ago(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Renders one row group of a filled sparkline (Redis's `sparklineRenderRange` with
/// `SPARKLINE_FILL`): `rows` rows of `_o#` and `|` scaled between min and max, a blank line,
/// then each label written downwards under its column.
fn sparkline(out: &mut String, points: &[(f64, String)], min: f64, max: f64, rows: usize) {
    const FILL: [char; 3] = ['_', 'o', '#'];
    let steps = (FILL.len() * rows) as i64;
    let range = if max - min == 0.0 { 1.0 } else { max - min };
    let step_of = |v: f64| {
        let step = (((v - min) * steps as f64) as i64) as f64 / range;
        (step as i64).clamp(0, steps - 1)
    };
    for row in 0..rows {
        let line: String = points
            .iter()
            .map(|(v, _)| {
                let at = step_of(*v) - ((rows - row - 1) * FILL.len()) as i64;
                match at {
                    0..=2 => FILL[at as usize],
                    a if a >= 3 => '|',
                    _ => ' ',
                }
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    // The labels' top margin, then their characters, one row each.
    out.push_str(&" ".repeat(points.len()));
    out.push('\n');
    let tallest = points.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    for i in 0..tallest {
        let line: String = points
            .iter()
            .map(|(_, l)| l.as_bytes().get(i).map_or(' ', |&b| b as char))
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_hdr_with_two_digits() {
        assert_eq!(index_of(0), 0);
        assert_eq!(index_of(255), 255);
        assert_eq!(index_of(256), 256);
        assert_eq!(index_of(257), 256);
        assert_eq!(range_at(index_of(1024)), (1024, 8));
        assert_eq!(highest_equivalent(1024), 1031);
        assert_eq!(
            highest_equivalent(MAX_NS),
            range_at(index_of(MAX_NS)).0 + (1 << 22) - 1
        );
        assert!(index_of(MAX_NS) < COUNTS);
    }

    #[test]
    fn percentiles_and_cdf() {
        let h = Histogram::new();
        for _ in 0..99 {
            h.record(1_500);
        }
        h.record(50_000_000);
        assert_eq!(h.percentile(50.0), highest_equivalent(1_500));
        assert_eq!(h.percentile(100.0), highest_equivalent(50_000_000));
        assert_eq!(h.percentile(0.0), range_at(index_of(1_500)).0);
        let cdf = h.cdf();
        assert_eq!(cdf.first(), Some(&(2, 99)));
        assert_eq!(cdf.last().map(|c| c.1), Some(100));
        assert_eq!(cdf.len(), 2);
    }

    #[test]
    fn events_keep_one_sample_a_second() {
        let m = Monitor::default();
        m.add("command", 300, 100);
        m.add("command", 500, 100);
        m.add("command", 400, 101);
        assert_eq!(m.history(b"command"), Some(vec![(100, 500), (101, 400)]));
        assert_eq!(m.latest(), vec![("command".into(), 101, 400, 500)]);
        let g = m.graph(b"command", 105).unwrap_or_default();
        assert!(g.starts_with("command - high 500 ms, low 400 ms (all time high 500 ms)\n"));
        assert_eq!(m.reset(Some(b"COMMAND")), 1);
        assert_eq!(m.reset(None), 0);
        assert!(m.history(b"command").is_none());
    }
}
