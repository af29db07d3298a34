//! The `spindle` binary: flags, logging, signals, then `server::run`.

use std::process::ExitCode;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use spindle::config::{self, Cli};
use spindle::{server, shutdown::Shutdown};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cfg = match config::parse_args(std::env::args().skip(1)) {
        Ok(Cli::Run(cfg)) => cfg,
        Ok(Cli::Help) => {
            println!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Version) => {
            println!(
                "spindle {} (redis_version {})",
                spindle::VERSION,
                spindle::REDIS_VERSION
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("spindle: {e}");
            return ExitCode::from(1);
        }
    };
    let listener = match server::bind(&cfg.bind, cfg.port) {
        Ok(l) => l,
        Err(e) => {
            log::error!("could not listen on {}:{}: {e}", cfg.bind, cfg.port);
            eprintln!(
                "spindle: could not listen on {}:{}: {e}",
                cfg.bind, cfg.port
            );
            return ExitCode::from(1);
        }
    };
    disable_thp();
    let clients = server::adjust_open_files_limit(cfg.maxclients());
    if clients != cfg.maxclients() {
        cfg.set_maxclients(clients);
    }
    server::reserve_descriptor_table(&listener, clients);
    // Handlers go in before the banner, so a supervisor that signals as soon as it sees the
    // banner always gets a clean shutdown.
    let shutdown = Shutdown::new();
    match Signals::new([SIGINT, SIGTERM]) {
        Ok(mut signals) => {
            let sd = shutdown.clone();
            std::thread::spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                    log::warn!("Received {name}, scheduling shutdown...");
                    sd.trigger();
                }
            });
        }
        Err(e) => log::warn!("cannot install signal handlers: {e}"),
    }

    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    log::info!(
        "Spindle {} (redis {}) listening on {addr}, pid {}, maxclients {}",
        spindle::VERSION,
        spindle::REDIS_VERSION,
        std::process::id(),
        cfg.maxclients()
    );

    if let Err(e) = server::run(listener, cfg, shutdown) {
        log::error!("server error: {e}");
        return ExitCode::from(1);
    }
    log::info!("Spindle is now ready to exit, bye bye...");
    ExitCode::SUCCESS
}

/// Redis's `disable-thp yes`: no transparent huge pages for this process. The allocator asks
/// for them on its arenas, and then every new connection thread's first allocation faults in and
/// zeroes a 2 MiB page: ~880 KB resident per idle client instead of ~60 KB.
fn disable_thp() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if rc != 0 {
            log::warn!(
                "cannot disable transparent huge pages: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}
