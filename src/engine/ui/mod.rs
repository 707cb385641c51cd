//! The live web UI of a SparkContext (Spark's UI on port 4040): an application page, a
//! Streaming tab and a JSON API compatible with Spark's `/api/v1` for streaming.
//!
//! The engine owns the figures: [`store::StreamingStore`] is fed by the same events the
//! StreamingListener bus carries (called on the posting thread, before the bus), bounded by
//! `spark.streaming.ui.retainedBatches`; [`server`] serves it from the engine's tokio runtime.

mod api;
pub mod config;
mod pages;
mod server;
pub mod store;

use std::sync::Arc;

use parking_lot::Mutex;

use crate::engine::error::{EngineError, Result};

pub use config::{AppInfo, UiConfig};
use store::StreamingStore;

/// A running web UI: what it shows, and the server task serving it.
pub struct WebUi {
    app: AppInfo,
    retained_batches: usize,
    streaming: Mutex<Option<Arc<StreamingStore>>>,
    server: Mutex<Option<server::Handle>>,
    url: String,
}

impl WebUi {
    /// Start the UI described by `settings` (the SparkConf's pairs), or None when
    /// `spark.ui.enabled` is false. No free port among `spark.ui.port` and the
    /// `spark.port.maxRetries` next ones is an error, as in Spark.
    pub fn start(settings: &[(String, String)]) -> Result<Option<Arc<WebUi>>> {
        let config = UiConfig::from_settings(settings);
        if !config.enabled {
            return Ok(None);
        }
        let app = AppInfo::from_settings(settings);
        let listener = server::bind(&config)?;
        let addr = listener
            .local_addr()
            .map_err(|e| EngineError::io("cannot serve the UI", e))?;
        let url = format!("http://{}:{}", config.public_host(), addr.port());
        let ui = Arc::new(WebUi {
            app,
            retained_batches: config.retained_batches,
            streaming: Mutex::new(None),
            server: Mutex::new(None),
            url: url.clone(),
        });
        *ui.server.lock() = Some(server::serve(listener, Arc::downgrade(&ui))?);
        log::info!(
            "Bound SparkUI to {}, and started at {url}",
            config.bind_host
        );
        Ok(Some(ui))
    }

    /// `http://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn app(&self) -> &AppInfo {
        &self.app
    }

    /// A new streaming context's figures (replacing the previous context's).
    pub fn attach_streaming(&self, batch_ms: i64) -> Arc<StreamingStore> {
        let store = Arc::new(StreamingStore::new(batch_ms, self.retained_batches));
        *self.streaming.lock() = Some(store.clone());
        store
    }

    /// The streaming figures of the latest streaming context, if any.
    pub fn streaming(&self) -> Option<Arc<StreamingStore>> {
        self.streaming.lock().clone()
    }

    /// Stop serving and free the port.
    pub fn stop(&self) {
        if let Some(handle) = self.server.lock().take() {
            handle.stop();
        }
    }
}

impl Drop for WebUi {
    fn drop(&mut self) {
        self.stop();
    }
}
