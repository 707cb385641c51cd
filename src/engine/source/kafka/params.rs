//! kafkaParams: Spark 2.4's Kafka 0.8 settings, mapped to librdkafka's names and checked by
//! librdkafka itself, so an unknown key or a value it cannot use is an error naming the key.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

use crate::engine::error::{EngineError, Result};

/// Settings that hold credentials: never logged, never in an error message or a checkpoint.
pub const SECRET_KEYS: &[&str] = &[
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.password",
    "ssl.truststore.password",
];

/// Whether the value of `key` is a credential.
pub fn is_secret(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// Settings of the Kafka 0.8 (JVM) consumer that have no librdkafka counterpart and no effect
/// here: accepted, so Spark programs run unchanged, and logged once.
const JVM_ONLY_KEYS: &[&str] = &[
    "auto.commit.enable",
    "consumer.id",
    "consumer.timeout.ms",
    "dual.commit.enabled",
    "exclude.internal.topics",
    "key.deserializer",
    "num.consumer.fetchers",
    "offsets.channel.backoff.ms",
    "offsets.channel.socket.timeout.ms",
    "offsets.commit.max.retries",
    "offsets.storage",
    "rebalance.backoff.ms",
    "rebalance.max.retries",
    "refresh.leader.backoff.ms",
    "serializer.class",
    "value.deserializer",
];

/// The validated settings of one Kafka source.
#[derive(Clone, Default)]
pub struct KafkaParams {
    /// librdkafka settings, in the order given.
    client: Vec<(String, String)>,
    /// `zookeeper.connect`, for finding brokers when none are named.
    pub zookeeper: Option<String>,
    /// `zookeeper.connection.timeout.ms`.
    pub zookeeper_timeout_ms: Option<u64>,
}

impl std::fmt::Debug for KafkaParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<(&str, &str)> = self
            .client
            .iter()
            .map(|(k, v)| (k.as_str(), if is_secret(k) { "***" } else { v.as_str() }))
            .collect();
        f.debug_struct("KafkaParams")
            .field("client", &shown)
            .field("zookeeper", &self.zookeeper)
            .finish()
    }
}

impl KafkaParams {
    /// Spark's kafkaParams, checked and mapped: `metadata.broker.list` becomes
    /// `bootstrap.servers`, `auto.offset.reset` `smallest`/`largest` become
    /// `earliest`/`latest`, ZooKeeper settings are kept apart.
    pub fn from_spark(params: &[(String, String)]) -> Result<KafkaParams> {
        let mut out = KafkaParams::default();
        for (key, value) in params {
            let key = key.trim();
            let value = value.as_str();
            match key {
                "zookeeper.connect" => out.zookeeper = Some(value.to_string()),
                "zookeeper.connection.timeout.ms" => {
                    out.zookeeper_timeout_ms = Some(value.trim().parse().map_err(|_| {
                        EngineError::InvalidArgument(format!(
                            "kafkaParams: zookeeper.connection.timeout.ms must be a number of \
                             milliseconds, got {value:?}"
                        ))
                    })?);
                }
                k if k.starts_with("zookeeper.") => {
                    log::debug!(
                        "kafkaParams: {k} has no effect (ZooKeeper is only read for brokers)"
                    );
                }
                k if JVM_ONLY_KEYS.contains(&k) => {
                    log::info!(
                        "kafkaParams: {k} is a setting of the JVM consumer and has no effect here"
                    );
                }
                "metadata.broker.list" | "bootstrap.servers" => {
                    out.set("bootstrap.servers", value);
                }
                "auto.offset.reset" => {
                    let mapped = match value {
                        "smallest" => "earliest",
                        "largest" => "latest",
                        other => other,
                    };
                    out.set("auto.offset.reset", mapped);
                }
                _ => out.set(key, value),
            }
        }
        out.check()?;
        Ok(out)
    }

    fn set(&mut self, key: &str, value: &str) {
        self.client.retain(|(k, _)| k != key);
        self.client.push((key.to_string(), value.to_string()));
    }

    /// The value of a librdkafka setting.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.client
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The brokers named in the settings, if any.
    pub fn bootstrap(&self) -> Option<&str> {
        self.get("bootstrap.servers")
            .filter(|s| !s.trim().is_empty())
    }

    /// These settings with `bootstrap.servers` set to `brokers`.
    pub fn with_bootstrap(&self, brokers: &str) -> KafkaParams {
        let mut out = self.clone();
        out.set("bootstrap.servers", brokers);
        out
    }

    /// A consumer's configuration: the engine's consumer defaults, then `defaults` (both
    /// replaced by the user's settings of the same keys), then the user's settings, then
    /// `overrides` (which win).
    pub fn consumer_config(
        &self,
        defaults: &[(&str, &str)],
        overrides: &[(&str, &str)],
    ) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in CONSUMER_DEFAULTS.iter().chain(defaults) {
            config.set(*k, *v);
        }
        for (k, v) in &self.client {
            config.set(k, v);
        }
        for (k, v) in overrides {
            config.set(*k, *v);
        }
        config
    }

    /// librdkafka's verdict on every setting, without connecting anywhere.
    fn check(&self) -> Result<()> {
        match self.consumer_config(&[], &[]).create_native_config() {
            Ok(_) => Ok(()),
            Err(e) => Err(config_error(&e)),
        }
    }
}

/// librdkafka defaults that do not suit a stream's consumers.
const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    // librdkafka stops fetching a partition whose prefetch queue is above its thresholds for
    // this long (default 1 s). A batch drains the queue at once, so with the default every
    // other batch waited up to a second for its records (benches/kafka_vs_pyspark.py: 4.0 s
    // for 2 M records with it, 2.3 s without).
    ("fetch.queue.backoff.ms", "10"),
];

/// A configuration error worded for the user: the key, librdkafka's reason, no secret value.
pub(crate) fn config_error(e: &KafkaError) -> EngineError {
    match e {
        KafkaError::ClientConfig(_, description, key, value) => {
            let mut reason = description.clone();
            if is_secret(key) && !value.is_empty() {
                reason = reason.replace(value.as_str(), "***");
            }
            EngineError::InvalidArgument(format!("kafkaParams: invalid setting {key:?}: {reason}"))
        }
        other => EngineError::InvalidArgument(format!("kafkaParams: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Result<KafkaParams> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        KafkaParams::from_spark(&owned)
    }

    #[test]
    fn spark_names_are_mapped_to_librdkafka_names() {
        let p = params(&[
            ("metadata.broker.list", "127.0.0.1:9092"),
            ("auto.offset.reset", "smallest"),
            ("zookeeper.connect", "zk:2181/kafka"),
            ("group.id", "g"),
        ])
        .unwrap();
        assert_eq!(p.bootstrap(), Some("127.0.0.1:9092"));
        assert_eq!(p.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(p.zookeeper.as_deref(), Some("zk:2181/kafka"));
        assert_eq!(p.get("zookeeper.connect"), None);
        let p = params(&[("auto.offset.reset", "largest")]).unwrap();
        assert_eq!(p.get("auto.offset.reset"), Some("latest"));
    }

    #[test]
    fn consumer_defaults_give_way_to_the_users_settings_and_overrides_win() {
        let config = params(&[])
            .unwrap()
            .consumer_config(&[("fetch.wait.max.ms", "10")], &[]);
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("10"));
        assert_eq!(config.get("fetch.wait.max.ms"), Some("10"));
        let user = params(&[
            ("fetch.queue.backoff.ms", "250"),
            ("fetch.wait.max.ms", "100"),
            ("enable.auto.commit", "true"),
        ])
        .unwrap();
        let config = user.consumer_config(
            &[("fetch.wait.max.ms", "10")],
            &[("enable.auto.commit", "false")],
        );
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("250"));
        assert_eq!(config.get("fetch.wait.max.ms"), Some("100"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let err = params(&[("bootstrap.servers", "x:1"), ("no.such.setting", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no.such.setting"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug_output() {
        let p = params(&[("sasl.password", "hunter2"), ("bootstrap.servers", "x:1")]).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        let err = params(&[("security.protocol", "bogus"), ("sasl.password", "hunter2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("security.protocol"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn ssl_without_openssl_in_the_build_is_a_clear_error() {
        let err = params(&[("security.protocol", "SSL")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("security.protocol"), "{err}");
    }
}
