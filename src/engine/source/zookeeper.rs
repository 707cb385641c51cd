//! Placeholder replaced by the ZooKeeper discovery module.
use std::time::Duration;

use crate::engine::error::{EngineError, Result};

pub fn brokers_from_zookeeper(zk_quorum: &str, _timeout: Duration) -> Result<String> {
    Err(EngineError::Source(format!(
        "ZooKeeper discovery is not built yet ({zk_quorum})"
    )))
}
