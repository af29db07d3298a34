//! MODULE: no module ever loads (Spindle has no module API), with Redis's replies, and the
//! protection of LOAD, LOADEX and UNLOAD by `enable-module-command`.

mod common;
use common::{check, BinServer};

const NOT_ALLOWED: &str = "-ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n";
const LOAD_FAILED: &str = "-ERR Error loading the extension. Please check the server logs.\r\n";

#[test]
fn protected_by_default() {
    let server = BinServer::start(&[]);
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (&["MODULE", "LIST"], "*0\r\n"),
            (&["MODULE", "LOAD", "/no/such.so"], NOT_ALLOWED),
            (&["MODULE", "UNLOAD", "x"], NOT_ALLOWED),
            (
                &["MODULE", "nope"],
                "-ERR unknown subcommand 'nope'. Try MODULE HELP.\r\n",
            ),
            (&["MULTI"], "+OK\r\n"),
            (&["MODULE", "LOADEX", "/no/such.so"], NOT_ALLOWED),
            (
                &["EXEC"],
                "-EXECABORT Transaction discarded because of previous errors.\r\n",
            ),
        ],
    );
    let help = c.cmd_str(&["MODULE", "HELP"]);
    assert!(help.starts_with("*11\r\n+MODULE <subcommand>"), "{help}");
}

#[test]
fn nothing_loads_and_the_log_says_why() {
    let server = BinServer::start(&["--enable-module-command", "yes"]);
    let mut c = server.connect();
    check(
        &mut c,
        &[
            (&["MODULE", "LOAD", "/no/such.so", "a"], LOAD_FAILED),
            (
                &["MODULE", "LOADEX", "/no/such.so", "CONFIG", "a"],
                LOAD_FAILED,
            ),
            (
                &[
                    "MODULE",
                    "LOADEX",
                    "/no/such.so",
                    "CONFIG",
                    "a",
                    "b",
                    "ARGS",
                    "x",
                ],
                LOAD_FAILED,
            ),
            (&["MODULE", "LOADEX", "/no/such.so", "bad"], LOAD_FAILED),
            (
                &["MODULE", "UNLOAD", "x"],
                "-ERR Error unloading module: no such module with that name\r\n",
            ),
            (&["MODULE", "LIST"], "*0\r\n"),
        ],
    );
    common::wait_for("the load failures logged", || {
        server
            .log_text()
            .matches("Module /no/such.so failed to load")
            .count()
            == 2
    });
}
