//! Input sources beyond `queueStream`: watched directories and TCP socket receivers.

pub mod files;
pub mod socket;

use std::sync::OnceLock;

/// The engine's async runtime for receivers (created on first use, shared process-wide).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ferrostream-receiver")
            .enable_all()
            .build()
            .expect("the receiver runtime starts (threads are available)")
    })
}
