//! Where the store's changes are recorded for the append-only file. The store knows nothing
//! of files: it hands each record (a database index and a command's arguments) to a [`Feed`]
//! given by the server, while the database's write lock is held, so records reach the file
//! in the order the changes were made.

/// Takes change records (the server's append-only file).
pub trait Feed: Send + Sync {
    /// Are records wanted now? (The file may be switched on and off while running.)
    fn active(&self) -> bool;
    /// Records `argv`, run against database `db`.
    fn record(&self, db: usize, argv: &[&[u8]]);
    /// A blocked client's reply is about to be sent from this thread: what this thread
    /// recorded must be as durable as a reply of its own would make it.
    fn sync(&self);
}
