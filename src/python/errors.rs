//! The one conversion from engine errors to Python exceptions.
//!
//! A user's own exception travels through the engine inside `EngineError::User` and comes out
//! unchanged; a failed batch becomes `SparkException` with the user's exception as `__cause__`.

use std::fmt;

use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyPermissionError,
    PyRuntimeError, PyTypeError, PyUnicodeDecodeError,
};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::engine::error::EngineError;

pyo3::import_exception!(ferrostream.errors, IllegalArgumentException);
pyo3::import_exception!(ferrostream.errors, IllegalStateException);
pyo3::import_exception!(ferrostream.errors, UnsupportedOperationException);
pyo3::import_exception!(ferrostream.errors, SparkException);

/// A Python exception carried through the engine.
pub struct PyUserError(pub PyErr);

impl fmt::Debug for PyUserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PyUserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Python::attach(|py| {
            let value = self.0.value(py);
            let name = value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".into());
            match value.str() {
                Ok(s) if !s.to_string_lossy().is_empty() => {
                    write!(f, "{name}: {}", s.to_string_lossy())
                }
                _ => write!(f, "{name}"),
            }
        })
    }
}

impl std::error::Error for PyUserError {}

/// Wrap a Python exception raised by user code for the engine.
pub fn user(err: PyErr) -> EngineError {
    EngineError::user(PyUserError(err))
}

fn user_pyerr(py: Python<'_>, e: &EngineError) -> Option<PyErr> {
    if let Some(found) = e
        .user_error()
        .and_then(|u| u.0.downcast_ref::<PyUserError>())
    {
        return Some(found.0.clone_ref(py));
    }
    // Bytes the engine decoded on behalf of `utf8_decoder`: the error that decoder raises.
    let mut cur = e;
    loop {
        match cur {
            EngineError::Job { source, .. } => cur = source,
            EngineError::Reported(inner) => cur = inner,
            EngineError::Utf8 { bytes, .. } => return Some(unicode_error(py, bytes)),
            EngineError::Unhashable(_) => return Some(PyTypeError::new_err(cur.to_string())),
            EngineError::MissingKey { key, .. } => {
                return Some(match crate::python::conv::value_to_py(py, key) {
                    Ok(k) => pyo3::exceptions::PyKeyError::new_err(k.unbind()),
                    Err(e) => e,
                })
            }
            _ => return None,
        }
    }
}

/// Python's own `UnicodeDecodeError` for `bytes.decode("utf-8")` of `bytes`.
fn unicode_error(py: Python<'_>, bytes: &[u8]) -> PyErr {
    match std::str::from_utf8(bytes) {
        Err(utf8) => match PyUnicodeDecodeError::new_utf8(py, bytes, utf8) {
            Ok(err) => PyErr::from_value(err.into_any()),
            Err(e) => e,
        },
        Ok(_) => {
            PyRuntimeError::new_err("ferrostream internal error: valid UTF-8 reported as invalid")
        }
    }
}

/// The user's exception in one line, as Python ends its report of it
/// (`traceback.format_exception_only`), e.g. `ZeroDivisionError: division by zero`.
fn summary(py: Python<'_>, err: &PyErr) -> String {
    let formatted = (|| -> PyResult<String> {
        let tb = py.import("traceback")?;
        let lines = tb.call_method1("format_exception_only", (err.get_type(py), err.value(py)))?;
        let lines = lines.cast_into::<PyList>()?;
        let mut out = String::new();
        for line in lines.iter() {
            out.push_str(&line.extract::<String>()?);
        }
        Ok(out.trim().to_string())
    })();
    formatted.unwrap_or_else(|_| err.to_string())
}

/// The user's exception with the frames of ferrostream's own Python code (the facade between
/// the engine and the user's function) left out of its traceback.
fn without_facade(py: Python<'_>, err: PyErr) -> PyErr {
    let value = err.value(py).clone();
    let shortened = py
        .import("ferrostream._tracebacks")
        .and_then(|m| m.call_method1("without_facade", (err.traceback(py),)))
        .and_then(|tb| value.call_method1("with_traceback", (tb,)));
    match shortened {
        // A PyErr of the value alone: its traceback is the value's (the PyErr's own copy of
        // the old one would be put back when it becomes a cause).
        Ok(_) => PyErr::from_value(value.into_any()),
        Err(e) => {
            log::debug!("cannot shorten a traceback: {e}");
            err
        }
    }
}

/// The messages of the jobs wrapping a user error, except the batch's own "Job failed" line.
fn job_context(e: &EngineError) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = e;
    loop {
        match cur {
            EngineError::Job { message, source } => {
                if !message.starts_with("Job failed for batch time") {
                    out.push(message.clone());
                }
                cur = source;
            }
            EngineError::Reported(inner) => cur = inner,
            _ => return out,
        }
    }
}

/// Convert an engine error into the Python exception users should see.
pub fn to_pyerr(py: Python<'_>, e: EngineError) -> PyErr {
    to_pyerr_ref(py, &e)
}

fn to_pyerr_ref(py: Python<'_>, e: &EngineError) -> PyErr {
    match e {
        EngineError::Reported(inner) => to_pyerr_ref(py, inner),
        // User code failed inside an action or a batch: Spark's "An exception was raised by
        // Python" with the user's own exception as the cause. An interrupt stays an interrupt,
        // and an error that already is a SparkException is not wrapped twice.
        EngineError::User(_)
        | EngineError::Job { .. }
        | EngineError::Utf8 { .. }
        | EngineError::Unhashable(_)
        | EngineError::MissingKey { .. } => {
            match user_pyerr(py, e) {
                Some(cause)
                    if cause.is_instance_of::<PyKeyboardInterrupt>(py)
                        || cause.is_instance_of::<pyo3::exceptions::PySystemExit>(py)
                        || cause.is_instance_of::<SparkException>(py) =>
                {
                    cause
                }
                Some(cause) => {
                    // Spark's "An exception was raised by Python" naming the user's exception
                    // in one line; its traceback is the cause's, printed once above this one
                    // ("The above exception was the direct cause ..."), with the user's frames.
                    let mut text =
                        format!("An exception was raised by Python: {}", summary(py, &cause));
                    // What the engine was doing when user code failed (e.g. checkpointing a
                    // stream's state), innermost last.
                    let context: Vec<String> = job_context(e)
                        .iter()
                        .flat_map(|m| m.lines())
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty())
                        .collect();
                    if !context.is_empty() {
                        text.push_str(&format!(" ({})", context.join(" ")));
                    }
                    let cause = without_facade(py, cause);
                    let err = SparkException::new_err(text);
                    err.set_cause(py, Some(cause));
                    err
                }
                None => SparkException::new_err(e.to_string()),
            }
        }
        EngineError::InvalidArgument(m) | EngineError::Requirement(m) => {
            IllegalArgumentException::new_err(m.clone())
        }
        EngineError::Type(m) => PyTypeError::new_err(m.clone()),
        EngineError::IllegalState(m) => IllegalStateException::new_err(m.clone()),
        EngineError::Unsupported(m) => UnsupportedOperationException::new_err(m.clone()),
        EngineError::Io { context, source } => {
            let msg = format!("{context}: {source}");
            match source.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
                std::io::ErrorKind::AlreadyExists => PyFileExistsError::new_err(msg),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
                _ => PyOSError::new_err(msg),
            }
        }
        EngineError::Source(m) | EngineError::Worker(m) => SparkException::new_err(m.clone()),
        EngineError::Internal(m) => {
            PyRuntimeError::new_err(format!("ferrostream internal error: {m}"))
        }
    }
}

/// `?`-friendly conversion for binding methods.
pub trait IntoPyResult<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, EngineError> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_pyerr(py, e))
    }
}
