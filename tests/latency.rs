//! LATENCY and INFO latencystats: the event monitor (a command over the threshold, one
//! sample a second, RESET, GRAPH's errors, DOCTOR), and the per-command histograms
//! (`latency-tracking`, the percentiles INFO shows, LATENCY HISTOGRAM's calls and CDF).
//! The monitor is the process's, so these run against a server process of their own.

mod common;

use common::BinServer;

#[test]
fn events_over_the_threshold_are_monitored() {
    let server = BinServer::start(&["--enable-debug-command", "yes"]);
    let mut c = server.connect();
    // Off by default: nothing is recorded however slow.
    c.cmd_str(&["DEBUG", "SLEEP", "0.05"]);
    assert_eq!(c.cmd_str(&["LATENCY", "LATEST"]), "*0\r\n");
    assert!(c
        .cmd_str(&["LATENCY", "DOCTOR"])
        .contains("Latency monitoring is disabled"));

    c.cmd_str(&["CONFIG", "SET", "latency-monitor-threshold", "30"]);
    c.cmd_str(&["DEBUG", "SLEEP", "0.01"]);
    assert_eq!(c.cmd_str(&["LATENCY", "LATEST"]), "*0\r\n");
    c.cmd_str(&["DEBUG", "SLEEP", "0.05"]);
    c.cmd_str(&["DEBUG", "SLEEP", "0.12"]);
    let latest = common::leaves(&c.cmd(&["LATENCY", "LATEST"]));
    assert_eq!(latest.len(), 4, "{latest:?}");
    assert_eq!(latest[0], "command");
    let (last, max): (u64, u64) = (latest[2].parse().unwrap(), latest[3].parse().unwrap());
    assert!((120..400).contains(&max), "{latest:?}");
    assert!(last >= 50 && last <= max, "{latest:?}");
    // Both sleeps fell in one or two seconds: one sample per second, the worst kept.
    let history = common::leaves(&c.cmd(&["LATENCY", "HISTORY", "command"]));
    assert!(history.len() == 2 || history.len() == 4, "{history:?}");
    assert_eq!(history[history.len() - 1], latest[2]);
    assert_eq!(c.cmd_str(&["LATENCY", "HISTORY", "nosuch"]), "*0\r\n");

    let graph = String::from_utf8(c.cmd(&["LATENCY", "GRAPH", "command"])).unwrap();
    assert!(
        graph.contains(&format!("command - high {max} ms")),
        "{graph}"
    );
    assert_eq!(
        c.cmd_str(&["LATENCY", "GRAPH", "nosuch"]),
        "-ERR No samples available for event 'nosuch'\r\n"
    );
    let doctor = String::from_utf8(c.cmd(&["LATENCY", "DOCTOR"])).unwrap();
    assert!(doctor.contains("1. command: "), "{doctor}");
    assert!(doctor.contains("Check your Slow Log"), "{doctor}");

    assert_eq!(c.cmd_str(&["LATENCY", "RESET", "nosuch"]), ":0\r\n");
    assert_eq!(c.cmd_str(&["LATENCY", "RESET"]), ":1\r\n");
    assert_eq!(c.cmd_str(&["LATENCY", "LATEST"]), "*0\r\n");
    assert_eq!(
        c.cmd_str(&["LATENCY", "HELP", "x"]),
        "-ERR wrong number of arguments for 'latency|help' command\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "latency-monitor-threshold"]),
        "*2\r\n$25\r\nlatency-monitor-threshold\r\n$2\r\n30\r\n"
    );
}

#[test]
fn commands_have_latency_histograms() {
    let server = BinServer::start(&["--enable-debug-command", "yes"]);
    let mut c = server.connect();
    c.cmd_str(&["CONFIG", "RESETSTAT"]);
    // CONFIG RESETSTAT itself is the one command counted.
    let all = common::leaves(&c.cmd(&["LATENCY", "HISTOGRAM"]));
    assert_eq!(all[0], "config|resetstat", "{all:?}");
    assert_eq!(&all[1..3], ["calls", "1"]);

    c.cmd_str(&["SET", "a", "b"]);
    c.cmd_str(&["SET", "c", "d"]);
    c.cmd_str(&["CLIENT", "ID"]);
    c.cmd_str(&["DEBUG", "SLEEP", "0.02"]);
    let set = common::leaves(&c.cmd(&["LATENCY", "HISTOGRAM", "set", "nosuch"]));
    assert_eq!(
        &set[..4],
        ["set", "calls", "2", "histogram_usec"],
        "{set:?}"
    );
    // The CDF ends at every call.
    assert_eq!(set.last().map(String::as_str), Some("2"), "{set:?}");
    let client = common::leaves(&c.cmd(&["LATENCY", "HISTOGRAM", "client"]));
    assert_eq!(&client[..3], ["client|id", "calls", "1"], "{client:?}");
    let debug = common::leaves(&c.cmd(&["LATENCY", "HISTOGRAM", "debug"]));
    // One call of 20 ms or more: one step of the CDF, at a power of two of at least 2^25 ns
    // (shown as the highest value of its bucket, 33816 µs for 2^25).
    assert_eq!(
        &debug[..4],
        ["debug", "calls", "1", "histogram_usec"],
        "{debug:?}"
    );
    assert_eq!(debug.len(), 6, "{debug:?}");
    assert!(debug[4].parse::<u64>().unwrap() >= 33816, "{debug:?}");

    let info = c.cmd_str(&["INFO", "latencystats"]);
    let line = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_debug:"))
        .unwrap_or_else(|| panic!("{info}"));
    let p50: f64 = line
        .split("p50=")
        .nth(1)
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(p50 >= 20000.0, "{line}");
    assert!(line.contains(",p99=") && line.contains(",p99.9="), "{line}");
    assert!(
        info.contains("latency_percentiles_usec_client|id:p50="),
        "{info}"
    );
    // Not in the default sections, as in Redis.
    assert!(!c.cmd_str(&["INFO"]).contains("Latencystats"));

    c.cmd_str(&[
        "CONFIG",
        "SET",
        "latency-tracking-info-percentiles",
        "0 50 100",
    ]);
    let info = c.cmd_str(&["INFO", "latencystats"]);
    assert!(info.contains("latency_percentiles_usec_set:p0="), "{info}");
    assert!(info.contains(",p50=") && info.contains(",p100="), "{info}");

    c.cmd_str(&["CONFIG", "SET", "latency-tracking", "no"]);
    c.cmd_str(&["CONFIG", "RESETSTAT"]);
    c.cmd_str(&["GET", "a"]);
    assert_eq!(c.cmd_str(&["LATENCY", "HISTOGRAM"]), "*0\r\n");
    assert_eq!(
        c.cmd_str(&["INFO", "latencystats"]),
        "$16\r\n# Latencystats\r\n\r\n"
    );
}

/// A field of the server's `/proc` summary of its mappings, in kB (`None` without one).
#[cfg(target_os = "linux")]
fn smaps_kb(s: &BinServer, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", s.child.id())).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(target_os = "linux")]
#[test]
fn disable_thp_is_honoured_and_the_doctor_sees_huge_pages() {
    let status = |s: &BinServer| {
        std::fs::read_to_string(format!("/proc/{}/status", s.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:").map(|v| v.trim().to_string()))
    };
    // The default: none at all, not even the allocator's first pages, and no advice.
    let s = BinServer::start(&["--latency-monitor-threshold", "100"]);
    let mut c = s.connect();
    c.cmd(&["SET", "big", &"x".repeat(8 << 20)]);
    if let Some(v) = status(&s) {
        assert_eq!(v, "0");
    }
    if let Some(kb) = smaps_kb(&s, "AnonHugePages:") {
        assert_eq!(kb, 0, "huge pages with disable-thp yes");
    }
    let doctor = c.cmd_str(&["LATENCY", "DOCTOR"]);
    assert!(
        doctor.contains("Dave, no latency spike was observed"),
        "{doctor}"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "disable-thp", "no"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'disable-thp') - can't set immutable config\r\n"
    );
    drop(c);
    drop(s);

    // `disable-thp no`: the process may have them, and where the system gives them the doctor
    // advises against them, as Redis's does.
    let s = BinServer::start(&["--latency-monitor-threshold", "100", "--disable-thp", "no"]);
    let mut c = s.connect();
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "disable-thp"]),
        "*2\r\n$11\r\ndisable-thp\r\n$2\r\nno\r\n"
    );
    c.cmd(&["SET", "big", &"x".repeat(8 << 20)]);
    if let Some(v) = status(&s) {
        assert_eq!(v, "1");
    }
    let doctor = c.cmd_str(&["LATENCY", "DOCTOR"]);
    let huge = smaps_kb(&s, "AnonHugePages:").unwrap_or(0);
    assert_eq!(
        doctor.contains("I detected a non zero amount of anonymous huge pages"),
        huge > 0,
        "{huge} kB huge: {doctor}"
    );
    let system =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if system.contains("[always]") || system.contains("[madvise]") {
        assert!(
            huge > 0,
            "no huge pages with disable-thp no and THP {system}"
        );
    }
}
