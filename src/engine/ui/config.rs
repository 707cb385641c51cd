//! The UI's settings (Spark's names) and the application it describes.

/// Spark's `spark.ui.*` settings as the UI uses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiConfig {
    /// `spark.ui.enabled` (default true).
    pub enabled: bool,
    /// `spark.ui.port` (default 4040; 0: any free port).
    pub port: u16,
    /// `spark.driver.bindAddress`, else the `SPARK_LOCAL_IP` environment variable, else
    /// 127.0.0.1.
    pub bind_host: String,
    /// `spark.port.maxRetries` (default 16): how many next ports are tried when one is taken.
    pub max_retries: u16,
    /// `spark.streaming.ui.retainedBatches` (default 1000).
    pub retained_batches: usize,
}

fn setting<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    // The last value wins, as in a SparkConf built by repeated `set`.
    settings
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
}

fn parsed<T: std::str::FromStr>(settings: &[(String, String)], key: &str, default: T) -> T {
    match setting(settings, key) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            log::warn!("ignoring {key}={v:?}: not a valid value");
            default
        }),
    }
}

impl UiConfig {
    pub fn from_settings(settings: &[(String, String)]) -> UiConfig {
        let enabled = match setting(settings, "spark.ui.enabled") {
            None => true,
            Some(v) => !v.eq_ignore_ascii_case("false"),
        };
        let bind_host = setting(settings, "spark.driver.bindAddress")
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .or_else(|| {
                std::env::var("SPARK_LOCAL_IP")
                    .ok()
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            })
            .unwrap_or_else(|| "127.0.0.1".into());
        UiConfig {
            enabled,
            port: parsed(settings, "spark.ui.port", 4040),
            bind_host,
            max_retries: parsed(settings, "spark.port.maxRetries", 16),
            retained_batches: parsed(settings, "spark.streaming.ui.retainedBatches", 1000),
        }
    }

    /// The host name the UI's address is given with.
    pub fn public_host(&self) -> &str {
        match self.bind_host.as_str() {
            "0.0.0.0" | "::" | "[::]" => "localhost",
            host => host,
        }
    }
}

/// The application the UI describes (Spark's application page and `/api/v1/applications`).
#[derive(Clone, Debug)]
pub struct AppInfo {
    pub id: String,
    pub name: String,
    pub master: String,
    /// Epoch ms.
    pub start_time: i64,
    pub user: String,
    /// Every setting, sorted by name, secrets masked.
    pub settings: Vec<(String, String)>,
}

/// What a secret setting shows instead of its value (Spark's redaction text).
pub const REDACTED: &str = "*********(redacted)";

/// Settings whose names contain one of these words (any case) never show their values.
pub fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "password", "token", "key"]
        .iter()
        .any(|word| name.contains(word))
}

impl AppInfo {
    pub fn from_settings(settings: &[(String, String)]) -> AppInfo {
        let mut shown: Vec<(String, String)> = Vec::new();
        for (k, v) in settings {
            let v = if is_secret(k) {
                REDACTED.to_string()
            } else {
                v.clone()
            };
            match shown.iter_mut().find(|(name, _)| name == k) {
                Some(entry) => entry.1 = v,
                None => shown.push((k.clone(), v)),
            }
        }
        shown.sort();
        let start_time = setting(settings, "spark.app.startTime")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(super::store::now_ms);
        AppInfo {
            id: setting(settings, "spark.app.id")
                .unwrap_or("local-app")
                .to_string(),
            name: setting(settings, "spark.app.name")
                .unwrap_or_default()
                .to_string(),
            master: setting(settings, "spark.master")
                .unwrap_or_default()
                .to_string(),
            start_time,
            user: current_user(),
            settings: shown,
        }
    }
}

/// Spark's `Utils.getCurrentUserName`: `SPARK_USER`, else the process's user.
fn current_user() -> String {
    for var in ["SPARK_USER", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    // The name of the process's uid in /etc/passwd (no libc call: the crate forbids unsafe).
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        });
    let name = uid.and_then(|uid| {
        std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
            })
        })
    });
    name.unwrap_or_else(|| "<unknown>".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_sparks() {
        let c = UiConfig::from_settings(&[]);
        assert!(c.enabled);
        assert_eq!(c.port, 4040);
        assert_eq!(c.max_retries, 16);
        assert_eq!(c.retained_batches, 1000);
    }

    #[test]
    fn settings_choose_port_address_and_retention() {
        let c = UiConfig::from_settings(&pairs(&[
            ("spark.ui.enabled", "False"),
            ("spark.ui.port", "5050"),
            ("spark.driver.bindAddress", "0.0.0.0"),
            ("spark.streaming.ui.retainedBatches", "7"),
        ]));
        assert!(!c.enabled);
        assert_eq!(c.port, 5050);
        assert_eq!(c.bind_host, "0.0.0.0");
        assert_eq!(c.public_host(), "localhost");
        assert_eq!(c.retained_batches, 7);
    }

    #[test]
    fn secrets_are_masked_whatever_their_case() {
        let app = AppInfo::from_settings(&pairs(&[
            ("spark.app.name", "wc"),
            ("spark.kafka.sasl.PASSWORD", "hunter2"),
            ("fs.s3a.secret.key", "abc"),
            ("my.Token", "t"),
            ("spark.master", "local[2]"),
        ]));
        assert_eq!(app.name, "wc");
        assert_eq!(app.master, "local[2]");
        for (k, v) in &app.settings {
            let secret = k != "spark.app.name" && k != "spark.master";
            assert_eq!(v == REDACTED, secret, "{k}");
        }
    }
}
