//! `supervised`: telling a supervisor when the server is ready, as Redis's
//! `redisIsSupervised` does. Under systemd (`supervised systemd`, or `auto` with
//! `NOTIFY_SOCKET` set) the sd_notify protocol: `STATUS=...` and `READY=1` datagrams to the
//! socket in `NOTIFY_SOCKET` (a leading `@` names an abstract socket), and `STOPPING=1` at
//! shutdown. Under upstart (`UPSTART_JOB` set) the server stops itself with SIGSTOP once
//! set up, and upstart continues it. A supervised server does not daemonize.

use std::sync::atomic::{AtomicU8, Ordering};

const NONE: u8 = 0;
const SYSTEMD: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(NONE);

/// Sends one sd_notify message; Redis's `redisCommunicateSystemd` (false, with a warning,
/// when there is no socket to tell).
pub fn notify(msg: &str) -> bool {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        log::warn!("systemd supervision error: NOTIFY_SOCKET not found!");
        return false;
    };
    let sent = std::os::unix::net::UnixDatagram::unbound().and_then(|sock| {
        let bytes = target.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(msg.as_bytes(), &addr)
            }
            None => sock.send_to(msg.as_bytes(), &target),
        }
    });
    if let Err(e) = sent {
        log::warn!("systemd supervision error: sd_notify: {e}");
        return false;
    }
    true
}

/// Sets supervision up for `supervised` (`no`, `upstart`, `systemd`, `auto`); whether the
/// server is supervised (and so stays in the foreground).
pub fn setup(setting: &str) -> bool {
    let mode = match setting {
        "auto" if std::env::var_os("UPSTART_JOB").is_some() => {
            log::debug!("Upstart supervision detected.");
            "upstart"
        }
        "auto" if std::env::var_os("NOTIFY_SOCKET").is_some() => {
            log::debug!("Systemd supervision detected.");
            "systemd"
        }
        other => other,
    };
    match mode {
        "upstart" => {
            if std::env::var_os("UPSTART_JOB").is_none() {
                log::warn!("upstart supervision requested, but UPSTART_JOB not found!");
                return false;
            }
            log::info!("supervised by upstart, will stop to signal readiness.");
            // SAFETY: stops this process until upstart continues it; no state is touched.
            unsafe { libc::raise(libc::SIGSTOP) };
            std::env::remove_var("UPSTART_JOB");
            MODE.store(UPSTART, Ordering::Relaxed);
            true
        }
        "systemd" => {
            if !notify("STATUS=Spindle is loading...\n") {
                return false;
            }
            log::info!(
                "Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit."
            );
            MODE.store(SYSTEMD, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

const UPSTART: u8 = 3;

/// INFO `process_supervised`.
pub fn mode_name() -> &'static str {
    match MODE.load(Ordering::Relaxed) {
        SYSTEMD => "systemd",
        UPSTART => "upstart",
        _ => "no",
    }
}

/// The server serves (its data loaded).
pub fn ready() {
    if MODE.load(Ordering::Relaxed) == SYSTEMD {
        notify("STATUS=Ready to accept connections\n");
        notify("READY=1\n");
    }
}

/// The server is shutting down.
pub fn stopping() {
    if MODE.load(Ordering::Relaxed) == SYSTEMD {
        notify("STOPPING=1\n");
    }
}
