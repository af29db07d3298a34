//! The `spindle` binary: flags, logging, signals, then `server::run`.

use std::process::ExitCode;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use spindle::config::{self, Cli};
use spindle::{os, server, shutdown::Shutdown};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cfg = match config::parse_args(std::env::args().skip(1)) {
        Ok(Cli::Run(cfg)) => *cfg,
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
    // Redis's ACLLoadUsersAtStartup: an `aclfile` that does not load stops the start.
    let aclfile = cfg.get(config::lookup("aclfile").expect("in the table"));
    if !aclfile.is_empty() {
        let all =
            cfg.get(config::lookup("acl-pubsub-default").expect("in the table")) == "allchannels";
        if let Err(e) = spindle::acl::Acl::default().load_file(&aclfile, all) {
            log::error!("Aborting Redis startup because of ACL errors: {e}");
            return ExitCode::from(1);
        }
    }
    let addrs = cfg.bind_addrs();
    let listeners = match spindle::listen::bind_all(&addrs, cfg.port()) {
        Ok(l) if !l.is_empty() => l,
        Ok(_) => {
            log::error!("Failed listening on port {} (tcp), aborting.", cfg.port());
            return ExitCode::from(1);
        }
        Err(e) => {
            log::error!(
                "could not listen on {}:{}: {e}",
                addrs.join(" "),
                cfg.port()
            );
            eprintln!(
                "spindle: could not listen on {}:{}: {e}",
                addrs.join(" "),
                cfg.port()
            );
            return ExitCode::from(1);
        }
    };
    os::disable_thp();
    let clients = os::adjust_open_files_limit(cfg.maxclients());
    if clients != cfg.maxclients() {
        log::warn!(
            "open-files limit too low: maxclients lowered from {} to {clients} \
             (raise it with 'ulimit -n')",
            cfg.maxclients()
        );
        cfg.set_maxclients(clients);
    }
    os::reserve_descriptor_table(clients);
    // Handlers go in before the banner, so a supervisor that signals as soon as it sees the
    // banner always gets a clean shutdown.
    let shutdown = Shutdown::new();
    match Signals::new([SIGINT, SIGTERM]) {
        Ok(mut signals) => {
            let sd = shutdown.clone();
            std::thread::spawn(move || {
                for sig in signals.forever() {
                    let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                    log::warn!("Received {name} scheduling shutdown...");
                    sd.request();
                }
            });
        }
        Err(e) => log::warn!("cannot install signal handlers: {e}"),
    }

    let addr = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    log::info!(
        "Spindle {} (redis {}) listening on {addr}, pid {}, maxclients {}",
        spindle::VERSION,
        spindle::REDIS_VERSION,
        std::process::id(),
        cfg.maxclients()
    );

    if let Err(e) = server::run_on(listeners, cfg, shutdown) {
        log::error!("server error: {e}");
        return ExitCode::from(1);
    }
    log::info!("Spindle is now ready to exit, bye bye...");
    ExitCode::SUCCESS
}
