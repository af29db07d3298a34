//! CONFIG SET of the listening sockets: `port` and `bind` move the listener while the server
//! runs, and a failure to bind leaves everything as it was.

mod common;

use common::TestServer;
use std::net::{TcpListener, TcpStream};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn config_set_port_moves_the_listener() {
    let server = TestServer::start();
    let mut c = server.connect();
    let port = free_port();
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "port", &port.to_string()]),
        "+OK\r\n"
    );
    // The connection that asked stays; new ones go to the new port only.
    assert_eq!(c.cmd_str(&["PING"]), "+PONG\r\n");
    let mut moved = common::Conn::connect(([127, 0, 0, 1], port).into());
    assert_eq!(
        moved.cmd_str(&["CONFIG", "GET", "port"]),
        format!(
            "*2\r\n$4\r\nport\r\n${}\r\n{port}\r\n",
            port.to_string().len()
        )
    );
    assert!(TcpStream::connect(server.addr).is_err());
    let info = moved.cmd_str(&["INFO", "server"]);
    assert!(info.contains(&format!("tcp_port:{port}\r\n")), "{info}");
}

#[test]
fn a_port_in_use_is_refused_and_every_value_is_put_back() {
    let server = TestServer::start();
    let mut c = server.connect();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port().to_string();
    let reply = c.cmd_str(&["CONFIG", "SET", "maxmemory", "10000001", "port", &busy]);
    assert_eq!(
        reply,
        "-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "maxmemory"]),
        "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    // Still listening where it was.
    let mut again = server.connect();
    assert_eq!(again.cmd_str(&["PING"]), "+PONG\r\n");
}

#[test]
fn config_set_bind_rebinds_on_the_same_port() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "bind", "127.0.0.1 -::1"]),
        "+OK\r\n"
    );
    assert_eq!(server.connect().cmd_str(&["PING"]), "+PONG\r\n");
    // An address this machine does not have: refused, and the old sockets come back.
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "bind", "127.0.0.1 192.0.2.1"]),
        "-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "bind"]),
        "*2\r\n$4\r\nbind\r\n$14\r\n127.0.0.1 -::1\r\n"
    );
    assert_eq!(server.connect().cmd_str(&["PING"]), "+PONG\r\n");
}
