//! Amazon Kinesis: `KinesisUtils.createStream`'s receiver, on the AWS SDK for Rust.
//!
//! Every open shard is read in parallel on the engine's async runtime; a batch holds what
//! arrived during its interval, one partition per shard. Shard positions (the last sequence
//! number of each shard whose batch completed) are written every `checkpointInterval` to a
//! DynamoDB table named after the application, as the Kinesis Client Library keeps them
//! ([`leases`]), so a restarted program resumes where it stopped (at-least-once).

mod lease_worker;
pub mod leases;
pub mod receiver;
mod records;
pub mod taker;

use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_kinesis::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata};

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};

/// The records of one shard a batch held: sequence numbers `first..=last`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceRange {
    pub shard: String,
    pub first: String,
    pub last: String,
}

/// Sequence numbers are decimal strings of up to 128 bits: compared as numbers.
pub fn seq_le(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    (a.len(), a) <= (b.len(), b)
}

/// Where a shard without a recorded position starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialPosition {
    Latest,
    TrimHorizon,
    /// Records that arrived at or after this time (epoch milliseconds).
    AtTimestamp(i64),
}

/// How a record's data becomes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    /// `utf8_decoder`: decoded natively to a string.
    Utf8,
    /// The bytes, for a decoder written in the host language.
    Bytes,
}

impl DataFormat {
    pub fn parse(name: &str) -> Result<DataFormat> {
        match name {
            "utf8" => Ok(DataFormat::Utf8),
            "bytes" => Ok(DataFormat::Bytes),
            other => Err(EngineError::InvalidArgument(format!(
                "unknown Kinesis record format {other:?} (expected utf8 or bytes)"
            ))),
        }
    }
}

/// Everything `createStream` was given. The secret key never appears in `Debug` output.
#[derive(Clone)]
pub struct KinesisConfig {
    pub app_name: String,
    pub stream_name: String,
    pub endpoint_url: String,
    pub region: String,
    pub initial_position: InitialPosition,
    pub checkpoint_interval: Duration,
    pub access_key_id: Option<String>,
    secret_key: Option<String>,
    pub session_token: Option<String>,
    /// `(role ARN, session name, external id)`.
    pub assume_role: Option<(String, String, String)>,
    pub format: DataFormat,
    /// A lease whose counter stood still this long is free to take (the KCL's
    /// `failoverTimeMillis`).
    pub failover: Duration,
}

impl fmt::Debug for KinesisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KinesisConfig")
            .field("app_name", &self.app_name)
            .field("stream_name", &self.stream_name)
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .field("initial_position", &self.initial_position)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("failover", &self.failover)
            .field("credentials", &self.access_key_id.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl KinesisConfig {
    /// The configuration from `(key, value)` settings: `app`, `stream`, `endpoint`, `region`,
    /// `initial_position` (`latest`, `trim_horizon` or `at_timestamp:<ms>`),
    /// `checkpoint_interval_ms`, and optionally `access_key_id`, `secret_key`,
    /// `session_token`, `sts_role_arn`, `sts_session_name`, `sts_external_id`.
    pub fn from_settings(settings: &[(String, String)], format: DataFormat) -> Result<Self> {
        let get = |key: &str| {
            settings
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let need = |key: &str| {
            get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
                EngineError::InvalidArgument(format!("Kinesis: the setting {key:?} is missing"))
            })
        };
        for (key, _) in settings {
            if !KNOWN.contains(&key.as_str()) {
                return Err(EngineError::InvalidArgument(format!(
                    "Kinesis: unknown setting {key:?}"
                )));
            }
        }
        let initial_position = match need("initial_position")?.as_str() {
            "latest" => InitialPosition::Latest,
            "trim_horizon" => InitialPosition::TrimHorizon,
            other => match other
                .strip_prefix("at_timestamp:")
                .and_then(|ms| ms.parse().ok())
            {
                Some(ms) => InitialPosition::AtTimestamp(ms),
                None => {
                    return Err(EngineError::InvalidArgument(format!(
                        "Illegal InitialPositionInStream {other:?}. Please use \
                         InitialPositionInStream.LATEST or InitialPositionInStream.TRIM_HORIZON"
                    )))
                }
            },
        };
        let interval_ms: u64 = need("checkpoint_interval_ms")?
            .parse()
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                EngineError::InvalidArgument(
                    "Kinesis: checkpointInterval should be a positive number of seconds".into(),
                )
            })?;
        let failover = match get("failover_ms") {
            None => FAILOVER,
            Some(ms) => ms
                .parse()
                .ok()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    EngineError::InvalidArgument(format!(
                        "Kinesis: the lease failover time should be a positive number of \
                         milliseconds, got {ms:?}"
                    ))
                })?,
        };
        let access_key_id = get("access_key_id").filter(|v| !v.is_empty());
        let secret_key = get("secret_key").filter(|v| !v.is_empty());
        if access_key_id.is_some() != secret_key.is_some() {
            return Err(EngineError::InvalidArgument(
                if access_key_id.is_some() {
                    "awsAccessKeyId is set but awsSecretKey is null"
                } else {
                    "awsSecretKey is set but awsAccessKeyId is null"
                }
                .into(),
            ));
        }
        let sts: Vec<Option<String>> = ["sts_role_arn", "sts_session_name", "sts_external_id"]
            .iter()
            .map(|k| get(k).filter(|v| !v.is_empty()))
            .collect();
        let assume_role =
            match (&sts[0], &sts[1], &sts[2]) {
                (Some(a), Some(s), Some(e)) => Some((a.clone(), s.clone(), e.clone())),
                (None, None, None) => None,
                _ => return Err(EngineError::InvalidArgument(
                    "stsAssumeRoleArn, stsSessionName, and stsExtenalId must all be defined or \
                     all be null"
                        .into(),
                )),
            };
        Ok(KinesisConfig {
            app_name: need("app")?,
            stream_name: need("stream")?,
            endpoint_url: need("endpoint")?,
            region: need("region")?,
            initial_position,
            checkpoint_interval: Duration::from_millis(interval_ms),
            access_key_id,
            secret_key,
            session_token: get("session_token").filter(|v| !v.is_empty()),
            assume_role,
            format,
            failover,
        })
    }

    /// Where the service is, for error messages (no credentials).
    pub fn target(&self) -> String {
        format!(
            "stream {:?} in region {} at {}",
            self.stream_name, self.region, self.endpoint_url
        )
    }

    /// The Kinesis client: at `endpointUrl`, in `regionName`.
    pub fn kinesis_client(&self, conf: &aws_config::SdkConfig) -> aws_sdk_kinesis::Client {
        let kinesis = aws_sdk_kinesis::config::Builder::from(conf)
            .endpoint_url(self.endpoint_url.clone())
            .build();
        aws_sdk_kinesis::Client::from_conf(kinesis)
    }

    /// The SDK configuration shared by the clients: the region as given; the given credentials
    /// or the SDK's default chain; an assumed role on top when asked. Endpoints are the
    /// region's, or the SDK's `AWS_ENDPOINT_URL_<SERVICE>` settings (as the KCL, DynamoDB is
    /// not reached at the Kinesis `endpointUrl`); Kinesis's is set on its client.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .connect_timeout(Duration::from_secs(5))
                    .build(),
            );
        if let (Some(key), Some(secret)) = (&self.access_key_id, &self.secret_key) {
            loader = loader.credentials_provider(Credentials::new(
                key.clone(),
                secret.clone(),
                self.session_token.clone(),
                None,
                "ferrostream-createStream",
            ));
        }
        let base = loader.load().await;
        let Some((arn, session, external_id)) = &self.assume_role else {
            return base;
        };
        let role = aws_config::sts::AssumeRoleProvider::builder(arn.clone())
            .session_name(session.clone())
            .external_id(external_id.clone())
            .configure(&base)
            .build()
            .await;
        base.into_builder()
            .credentials_provider(SharedCredentialsProvider::new(role))
            .build()
    }
}

/// The KCL's default `failoverTimeMillis`: a lease not renewed for this long is taken over.
pub const FAILOVER: Duration = Duration::from_secs(10);

const KNOWN: &[&str] = &[
    "failover_ms",
    "app",
    "stream",
    "endpoint",
    "region",
    "initial_position",
    "checkpoint_interval_ms",
    "access_key_id",
    "secret_key",
    "session_token",
    "sts_role_arn",
    "sts_session_name",
    "sts_external_id",
];

/// The error code of a failed AWS call, if the service sent one.
pub(crate) fn error_code<E: ProvideErrorMetadata>(e: &E) -> Option<String> {
    e.code().map(str::to_string)
}

/// A failed AWS call in words: what was done, the service's code and message (never
/// credentials: the SDK does not print them).
pub(crate) fn describe<E: std::error::Error + ProvideErrorMetadata>(
    doing: impl fmt::Display,
    e: &E,
) -> String {
    match (e.code(), e.message()) {
        (Some(code), Some(msg)) => format!("Kinesis: {doing}: {code}: {msg}"),
        (Some(code), None) => format!("Kinesis: {doing}: {code}"),
        _ => format!("Kinesis: {doing}: {}", DisplayErrorContext(e)),
    }
}

/// Errors that go away by waiting (throttling, service hiccups, the network).
pub(crate) fn is_transient(code: Option<&str>) -> bool {
    match code {
        None => true,
        Some(c) => matches!(
            c,
            "ProvisionedThroughputExceededException"
                | "LimitExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalFailure"
                | "InternalFailureException"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "KMSThrottlingException"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = [
            ("app", "a"),
            ("stream", "s"),
            ("endpoint", "http://127.0.0.1:1"),
            ("region", "us-east-1"),
            ("initial_position", "latest"),
            ("checkpoint_interval_ms", "2000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        out.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        out
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(seq_le("9", "10"));
        assert!(!seq_le("10", "9"));
        assert!(seq_le(
            "49680833962123587278387874796826182852184850733578846210",
            "49680833962123587278387874796826182852184850733578846210"
        ));
        assert!(seq_le(
            "1022",
            "49680833962123587278387874796826182852184850733578846210"
        ));
    }

    #[test]
    fn settings_are_checked_and_the_secret_is_never_printed() {
        let c = KinesisConfig::from_settings(
            &settings(&[("access_key_id", "AKIA"), ("secret_key", "hunter2")]),
            DataFormat::Utf8,
        )
        .unwrap();
        assert_eq!(c.initial_position, InitialPosition::Latest);
        assert_eq!(c.checkpoint_interval, Duration::from_secs(2));
        assert_eq!(c.failover, FAILOVER);
        assert!(!format!("{c:?}").contains("hunter2"));
        let at = KinesisConfig::from_settings(
            &settings(&[("initial_position", "at_timestamp:1500")]),
            DataFormat::Bytes,
        )
        .unwrap();
        assert_eq!(at.initial_position, InitialPosition::AtTimestamp(1500));
        let bad = |extra: &[(&str, &str)]| {
            KinesisConfig::from_settings(&settings(extra), DataFormat::Utf8)
                .unwrap_err()
                .to_string()
        };
        assert!(bad(&[("initial_position", "oldest")]).contains("Illegal InitialPositionInStream"));
        assert!(bad(&[("checkpoint_interval_ms", "0")]).contains("positive number"));
        assert!(
            bad(&[("secret_key", "x")]).contains("awsSecretKey is set but awsAccessKeyId is null")
        );
        assert!(bad(&[("sts_role_arn", "arn")]).contains("must all be defined"));
        assert!(bad(&[("colour", "red")]).contains("unknown setting"));
        assert!(bad(&[("failover_ms", "0")]).contains("failover time"));
    }
}
