//! The engine's error type: one enum, converted to Python exceptions in exactly one place
//! (`src/python/errors.rs`).

use std::error::Error as StdError;
use std::fmt;

/// A failure inside the engine.
///
/// `User` carries an error raised by user code (for Python: the `PyErr`, boxed so the engine
/// stays free of pyo3); the bindings downcast it back so the user's exception reaches the
/// caller unchanged.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A bad argument (Spark's IllegalArgumentException, a `ValueError` in Python).
    #[error("{0}")]
    InvalidArgument(String),
    /// A failed Spark `require(...)`: the message starts with `requirement failed: `. Also an
    /// IllegalArgumentException.
    #[error("{0}")]
    Requirement(String),
    /// An operation that is not valid in the current state (Spark's IllegalStateException).
    #[error("{0}")]
    IllegalState(String),
    /// An operation Spark does not support (UnsupportedOperationException).
    #[error("{0}")]
    Unsupported(String),
    /// A value of the wrong type for an operation (e.g. an unhashable key).
    #[error("{0}")]
    Type(String),
    /// An I/O failure, with what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An exception raised by user code.
    #[error("{0}")]
    User(UserError),
    /// A batch job failed; `source` is the underlying failure.
    #[error("{message}")]
    Job {
        message: String,
        #[source]
        source: Box<EngineError>,
    },
    /// A failure reported earlier and handed out again (Spark's sticky batch error).
    #[error("{0}")]
    Reported(std::sync::Arc<EngineError>),
    /// An external system a source reads (Kafka, Kinesis) failed or refused a request: Spark's
    /// SparkException. The message names the system, what was being done and never a secret.
    #[error("{0}")]
    Source(String),
    /// A key that cannot be hashed (a list, a `ResultIterable`), met while running a job: as in
    /// PySpark, where hashing it in the Python worker raises `TypeError`, the job fails with
    /// that `TypeError` as the cause.
    #[error("unhashable type: '{0}'")]
    Unhashable(&'static str),
    /// A key looked up in a user's mapping that has no entry for it (`sampleByKey`'s
    /// fractions): Python's `KeyError` as the job's cause, as PySpark's worker raises it.
    #[error("KeyError: {repr}")]
    MissingKey {
        key: crate::engine::value::Value,
        repr: String,
    },
    /// Bytes that were to be decoded as UTF-8 are not (a `UnicodeDecodeError` in Python, as
    /// the host's own decoder raises it), with where they came from.
    #[error("{context}")]
    Utf8 { context: String, bytes: Vec<u8> },
    /// A Python worker process could not start or died (a SparkException), with what
    /// happened and what the worker printed.
    #[error("{0}")]
    Worker(String),
    /// A bug: an invariant that should hold did not (never a panic across the boundary).
    #[error("internal error: {0}")]
    Internal(String),
}

/// An opaque error raised by user code, boxed to keep the engine free of host types.
pub struct UserError(pub Box<dyn StdError + Send + Sync>);

impl fmt::Debug for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserError({})", self.0)
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl EngineError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        EngineError::Io {
            context: context.into(),
            source,
        }
    }

    pub fn user(err: impl StdError + Send + Sync + 'static) -> Self {
        EngineError::User(UserError(Box::new(err)))
    }

    /// The innermost user error, if this failure was caused by user code.
    pub fn user_error(&self) -> Option<&UserError> {
        match self {
            EngineError::User(u) => Some(u),
            EngineError::Job { source, .. } => source.user_error(),
            EngineError::Reported(inner) => inner.user_error(),
            _ => None,
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
