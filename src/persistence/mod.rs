//! Persistence: Redis's RDB encodings of values (DUMP/RESTORE today; snapshot files and
//! the append-only file build on them).

pub mod aof;
pub mod object;
pub mod rdb;
pub mod snapshot;
