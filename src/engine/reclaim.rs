//! Freeing large datasets off the caller's thread.
//!
//! Dropping a partition of a million records touches every record (reference counts, nested
//! tuples) and costs about as much as computing it. Datasets are dropped where their last
//! handle goes: often the Python thread, with the GIL held, when a batch's RDD or a shuffle's
//! output is released, in the middle of the next batch. Large ones are handed to one
//! background thread instead ([`drop_later`]); small ones are dropped in place, where a
//! channel send would cost more than the drop.

use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

use crate::engine::rdd::Partition;

/// Datasets with fewer records than this are dropped in place.
pub const IN_PLACE_RECORDS: usize = 16 * 1024;

type Garbage = Box<dyn Send>;

fn reclaimer() -> Option<&'static Sender<Garbage>> {
    static SENDER: OnceLock<Option<Sender<Garbage>>> = OnceLock::new();
    SENDER
        .get_or_init(|| {
            let (tx, rx) = channel::<Garbage>();
            let started = std::thread::Builder::new()
                .name("ferrostream-reclaim".into())
                .spawn(move || {
                    for garbage in rx {
                        drop(garbage);
                    }
                });
            match started {
                Ok(_) => Some(tx),
                Err(e) => {
                    log::debug!("datasets are freed in place: no reclaim thread ({e})");
                    None
                }
            }
        })
        .as_ref()
}

/// Drop `partitions` on the reclaim thread when they hold many records, else here.
pub fn drop_later(partitions: Vec<Partition>) {
    let records: usize = partitions.iter().map(Vec::len).sum();
    if records < IN_PLACE_RECORDS {
        return;
    }
    if let Some(tx) = reclaimer() {
        // A send fails only when the thread is gone: the value comes back and drops here.
        let _ = tx.send(Box::new(partitions));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::Value;
    use std::sync::Arc;

    #[test]
    fn large_datasets_are_freed_on_the_reclaim_thread() {
        let shared: Arc<[u8]> = Arc::from(&b"x"[..]);
        let big: Partition = (0..IN_PLACE_RECORDS)
            .map(|_| Value::Bytes(shared.clone()))
            .collect();
        drop_later(vec![big]);
        // Freed eventually (by another thread), not leaked.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Arc::strong_count(&shared) > 1 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(Arc::strong_count(&shared), 1);

        let small: Partition = vec![Value::Bytes(shared.clone())];
        drop_later(vec![small]);
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "small datasets are dropped in place"
        );
    }
}
