//! The one parser of the paths and URLs users give for files and directories (`textFile`,
//! `wholeTextFiles`, `saveAsTextFile(s)`, `textFileStream`, `binaryRecordsStream`, checkpoint
//! directories, `addFile`).
//!
//! Accepted, as Hadoop's local file system accepts them: plain paths (relative to the working
//! directory), `file:/abs`, `file:///abs`, `file://localhost/abs` and `file:rel`; `%XX` escapes
//! in `file:` URLs are decoded (`Path.as_uri()` writes them). Any other scheme (`hdfs://`,
//! `s3a://`, `gs://`, ...) is an error naming the scheme: the engine never turns a URL into a
//! local directory called `hdfs:`.

use std::path::{Path, PathBuf};

use crate::engine::error::{EngineError, Result};

/// The scheme of `spec` when it is a URL: letters, digits, `+`, `-`, `.`, starting with a
/// letter, at least two characters (so that `C:` stays a path), before the first `/`.
fn scheme_of(spec: &str) -> Option<(&str, &str)> {
    let colon = spec.find(':')?;
    if spec[..colon].contains('/') {
        return None;
    }
    let scheme = &spec[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && scheme.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| (scheme, &spec[colon + 1..]))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn invalid(msg: String) -> EngineError {
    EngineError::InvalidArgument(msg)
}

/// The local file-system path that `spec` (a path or a `file:` URL) names.
pub fn local_path(spec: &str) -> Result<PathBuf> {
    if spec.is_empty() {
        return Err(invalid("Can not create a Path from an empty string".into()));
    }
    let Some((scheme, rest)) = scheme_of(spec) else {
        return Ok(PathBuf::from(spec));
    };
    if !scheme.eq_ignore_ascii_case("file") {
        return Err(invalid(format!(
            "No FileSystem for scheme \"{scheme}\": ferrostream reads and writes local files \
             only (a path, file:/path or file:///path), got {spec}"
        )));
    }
    let path = match rest.strip_prefix("//") {
        Some(after) => {
            let (host, path) = after.find('/').map_or((after, ""), |i| after.split_at(i));
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return Err(invalid(format!(
                    "file URL {spec} names the host \"{host}\": use file:///absolute/path (or \
                     file:/absolute/path) for a local file"
                )));
            }
            path
        }
        None => rest,
    };
    if path.is_empty() {
        return Err(invalid(format!("file URL {spec} has no path")));
    }
    let decoded = percent_decode(path)
        .ok_or_else(|| invalid(format!("malformed escape in file URL {spec}")))?;
    Ok(PathBuf::from(decoded))
}

/// `path` as Spark shows a local file: `file:` and the absolute path.
pub fn file_url(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file:{}", abs.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(spec: &str) -> String {
        local_path(spec).unwrap().to_string_lossy().into_owned()
    }

    fn err(spec: &str) -> String {
        local_path(spec).unwrap_err().to_string()
    }

    #[test]
    fn file_urls_and_plain_paths() {
        assert_eq!(ok("/tmp/x"), "/tmp/x");
        assert_eq!(ok("rel/x"), "rel/x");
        assert_eq!(ok("file:/tmp/x"), "/tmp/x");
        assert_eq!(ok("file:///tmp/x"), "/tmp/x");
        assert_eq!(ok("FILE:///tmp/x"), "/tmp/x");
        assert_eq!(ok("file://localhost/tmp/x"), "/tmp/x");
        assert_eq!(ok("file:rel/x"), "rel/x");
        assert_eq!(ok("file:///tmp/a%20b"), "/tmp/a b");
        assert_eq!(ok("dir/with:colon"), "dir/with:colon");
        assert_eq!(ok("C:/x"), "C:/x");
    }

    #[test]
    fn other_schemes_are_named() {
        for (spec, scheme) in [
            ("hdfs://nn:8020/data", "hdfs"),
            ("s3a://bucket/key", "s3a"),
            ("s3://bucket/key", "s3"),
            ("gs://bucket/key", "gs"),
            ("abfss://c@a.dfs.core.windows.net/x", "abfss"),
        ] {
            let msg = err(spec);
            assert!(
                msg.starts_with(&format!("No FileSystem for scheme \"{scheme}\"")),
                "{msg}"
            );
            assert!(msg.ends_with(spec), "{msg}");
        }
    }

    #[test]
    fn malformed_file_urls() {
        assert!(err("file://host/x").contains("names the host \"host\""));
        assert!(err("file://").contains("has no path"));
        assert!(err("file:").contains("has no path"));
        assert!(err("file:/a%zz").contains("malformed escape"));
        assert!(err("").contains("empty string"));
    }

    #[test]
    fn urls_show_absolute_paths() {
        assert_eq!(file_url(Path::new("/a/b")), "file:/a/b");
        assert!(file_url(Path::new("rel")).starts_with("file:/"));
    }
}
