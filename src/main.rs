//! The `spindle` binary: flags, logging, signals, then `server::run`.

use std::process::ExitCode;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use spindle::config::{self, Cli};
use spindle::{os, server, shutdown::Shutdown};

/// No transparent huge pages from the first allocation on: the allocator's constructor
/// (priority 101) maps its first arena and faults in its first pages before `main` could read
/// `disable-thp`, and those would stay huge for the process's life. `main` gives them back to
/// a server started with `disable-thp no`.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array.00100"]
static THP_OFF_BEFORE_THE_ALLOCATOR: extern "C" fn() = os::thp_off_early;

fn main() -> ExitCode {
    // Arguments that are not UTF-8 are taken as their lossy text rather than a panic.
    let mut args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let argv0 = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    // The process title's bytes, claimed while this is the only thread.
    spindle::proctitle::claim(&argv0);
    let cfg = match config::parse_args(args.clone()) {
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
            // redis-server's fatal block (or the file it could not open), then exit 1.
            eprintln!("{}", e.trim_end_matches('\n'));
            return ExitCode::from(1);
        }
    };
    if let Err(e) = spindle::logging::init(&cfg) {
        eprintln!("{}", e.trim_end_matches('\n'));
        return ExitCode::from(1);
    }
    spindle::crash::install();
    // Detached before any thread starts, as redis-server does.
    let setting = |name: &str| cfg.get(config::lookup(name).expect("in the table"));
    // A supervised server stays in the foreground, as redis-server does.
    let supervised = spindle::supervise::setup(&setting("supervised"));
    let background = setting("daemonize") == "yes" && !supervised;
    if background {
        os::daemonize();
    }
    log::warn!("oO0OoO0OoO0Oo Spindle is starting oO0OoO0OoO0Oo");
    log::warn!(
        "Spindle version={} (redis_version={}), bits=64, pid={}, just started",
        spindle::VERSION,
        spindle::REDIS_VERSION,
        std::process::id()
    );
    if args.first().is_some_and(|a| !a.starts_with('-')) {
        log::warn!("Configuration loaded");
    } else {
        log::warn!(
            "Warning: no config file specified, using the default config. In order to specify a config file use spindle /path/to/redis.conf"
        );
    }
    for w in cfg.inert_warnings() {
        log::warn!("{w}");
    }
    // Redis's createPidFile (once listening): with `daemonize yes` and no `pidfile`, its
    // default path.
    let mut pidfile = setting("pidfile");
    if background && pidfile.is_empty() {
        pidfile = "/var/run/redis.pid".into();
    }
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
    // `port 0` is no TCP listener (Redis's initServer), unless `--any-port yes` asks for the
    // system's pick.
    let tcp = cfg.port() != 0 || cfg.any_port;
    let addrs = if tcp { cfg.bind_addrs() } else { Vec::new() };
    let port = if cfg.any_port { 0 } else { cfg.port() };
    let unix_only = addrs.is_empty() && !setting("unixsocket").is_empty();
    if addrs.is_empty() && !unix_only {
        log::warn!("Configured to not listen anywhere, exiting.");
        return ExitCode::from(1);
    }
    let listeners = match spindle::listen::bind_all(&addrs, port) {
        // `bind ""` with a Unix socket: no TCP at all, as Redis allows.
        Ok(l) if !l.is_empty() || unix_only => l,
        Ok(_) => {
            log::error!("Failed listening on port {} (tcp), aborting.", cfg.port());
            return ExitCode::from(1);
        }
        Err(e) => {
            log::warn!(
                "Warning: Could not create server TCP listening socket {}:{}: bind: {e}",
                addrs.join(" "),
                cfg.port()
            );
            log::error!("Failed listening on port {} (tcp), aborting.", cfg.port());
            eprintln!(
                "spindle: could not listen on {}:{}: {e}",
                addrs.join(" "),
                cfg.port()
            );
            return ExitCode::from(1);
        }
    };
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            log::warn!("Failed to write PID file: {e}");
        }
    }
    os::transparent_huge_pages(setting("disable-thp") == "yes");
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

    let mut addr = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if addr.is_empty() {
        addr = setting("unixsocket");
    }
    log::info!(
        target: spindle::logging::RAW,
        "Spindle {} (Redis {} compatible) 64 bit, running in standalone mode, Port: {}, PID: {}",
        spindle::VERSION,
        spindle::REDIS_VERSION,
        cfg.port(),
        std::process::id()
    );
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
    if !pidfile.is_empty() {
        log::info!("Removing the pid file.");
        let _ = std::fs::remove_file(&pidfile);
    }
    log::info!("Spindle is now ready to exit, bye bye...");
    ExitCode::SUCCESS
}
