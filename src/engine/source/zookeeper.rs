//! Kafka broker discovery through ZooKeeper, for the receiver stream's `zkQuorum`.
//!
//! Spark's `KafkaUtils.createStream(ssc, zkQuorum, ...)` names a ZooKeeper ensemble, not the
//! brokers: the 0.8 consumer read the brokers from their registrations under
//! `<chroot>/brokers/ids`. Modern clients only take `bootstrap.servers`, so when kafkaParams name
//! no brokers, [`brokers_from_zookeeper`] reads those registrations (as a ZooKeeper-mode Kafka,
//! up to 3.9, writes them) and turns them into a bootstrap list.

use std::time::Duration;

use serde_json::Value;
use zookeeper_client as zk;

use crate::engine::error::{EngineError, Result};

/// ZooKeeper's default client port, used when a quorum entry names none (as the Java client).
const DEFAULT_PORT: u16 = 2181;

/// What to tell a user whose ensemble cannot name the brokers.
const NAME_BROKERS: &str = "name the Kafka brokers instead with \"metadata.broker.list\" or \
                            \"bootstrap.servers\" in kafkaParams (e.g. {\"metadata.broker.list\": \
                            \"host:9092\"})";

/// A parsed `zkQuorum`: `host:port[,host:port...][/chroot]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    /// `host:port` per server (IPv6 hosts in brackets), the port filled in when omitted.
    pub servers: Vec<String>,
    /// The chroot Kafka was registered under: `""` for the root, else `/a[/b...]`.
    pub chroot: String,
}

impl Quorum {
    /// The ZooKeeper path holding one child per registered broker.
    pub fn broker_ids_path(&self) -> String {
        format!("{}/brokers/ids", self.chroot)
    }

    fn connect_string(&self) -> String {
        self.servers.join(",")
    }
}

/// Parse a `zkQuorum` (`host:port[,host:port...][/chroot]`, as the ZooKeeper Java client
/// takes it; a missing port is 2181, `[v6-address]:port` is allowed).
pub fn parse_quorum(quorum: &str) -> Result<Quorum> {
    let bad = |why: &str| {
        EngineError::InvalidArgument(format!(
            "zkQuorum {quorum:?} is not a ZooKeeper connect string \
             (host:port[,host:port...][/chroot]): {why}"
        ))
    };
    let text = quorum.trim();
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let (hosts, chroot) = match text.find('/') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let chroot = chroot.trim_end_matches('/');
    if !chroot.is_empty() {
        for segment in chroot[1..].split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(bad(&format!(
                    "the chroot {chroot:?} has an invalid path element"
                )));
            }
        }
    }
    let mut servers = Vec::new();
    for entry in hosts.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(bad("a server address is empty"));
        }
        let (host, port) = split_host_port(entry).ok_or_else(|| bad(&format!("{entry:?}")))?;
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad(&format!("{entry:?} has an invalid port {p:?}"))),
            },
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(bad(&format!("{entry:?} has no valid host")));
        }
        servers.push(if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        });
    }
    Ok(Quorum {
        servers,
        chroot: chroot.to_string(),
    })
}

/// `host[:port]` or `[v6]:port` into host and port text; `None` if the brackets are wrong.
fn split_host_port(entry: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        return Some((&rest[..end], port));
    }
    match entry.rfind(':') {
        // A bare IPv6 address without brackets has several colons: not ours to guess.
        Some(i) if entry[..i].contains(':') => None,
        Some(i) => Some((&entry[..i], Some(&entry[i + 1..]))),
        None => Some((entry, None)),
    }
}

/// The `host:port` a client should bootstrap from, read from one broker's registration (the
/// JSON a ZooKeeper-mode Kafka writes at `<chroot>/brokers/ids/<id>`).
///
/// The `endpoints` (`"LISTENER://host:port"`) are preferred: the first whose security protocol
/// (through `listener_security_protocol_map`, else the listener's own name) is `protocol`, else
/// the first one. Old registrations without endpoints give `host` and `port`.
pub fn endpoint_from_registration(json: &[u8], path: &str, protocol: &str) -> Result<String> {
    let malformed = |why: String| {
        let shown = String::from_utf8_lossy(&json[..json.len().min(300)]).into_owned();
        EngineError::IllegalState(format!(
            "the Kafka broker registration at ZooKeeper path {path} is malformed ({why}): \
             {shown:?}; {NAME_BROKERS}"
        ))
    };
    let value: Value =
        serde_json::from_slice(json).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let Value::Object(fields) = &value else {
        return Err(malformed("not a JSON object".into()));
    };
    if let Some(endpoints) = fields.get("endpoints").filter(|v| !v.is_null()) {
        let Value::Array(list) = endpoints else {
            return Err(malformed("\"endpoints\" is not a list".into()));
        };
        let protocols = fields.get("listener_security_protocol_map");
        let mut parsed = Vec::with_capacity(list.len());
        for item in list {
            let text = item
                .as_str()
                .ok_or_else(|| malformed(format!("endpoint {item} is not a string")))?;
            let (listener, address) = text.split_once("://").ok_or_else(|| {
                malformed(format!("endpoint {text:?} is not LISTENER://host:port"))
            })?;
            let address = checked_address(address)
                .ok_or_else(|| malformed(format!("endpoint {text:?} has no host:port")))?;
            let security = protocols
                .and_then(|m| m.get(listener))
                .and_then(Value::as_str)
                .unwrap_or(listener);
            parsed.push((security.eq_ignore_ascii_case(protocol), address));
        }
        if let Some((_, address)) = parsed.iter().find(|(wanted, _)| *wanted) {
            return Ok(address.clone());
        }
        if let Some((_, address)) = parsed.into_iter().next() {
            return Ok(address);
        }
    }
    let host = fields.get("host").and_then(Value::as_str);
    let port = fields.get("port").and_then(Value::as_i64);
    match (host, port) {
        (Some(host), Some(port)) if !host.is_empty() && (1..=65535).contains(&port) => {
            Ok(if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            })
        }
        _ => Err(malformed(
            "it has neither \"endpoints\" nor a \"host\" and \"port\"".into(),
        )),
    }
}

/// `host:port` with a non-empty host and a valid port, as given.
fn checked_address(address: &str) -> Option<String> {
    let (host, port) = split_host_port(address)?;
    let port = port?.parse::<u16>().ok().filter(|p| *p > 0)?;
    if host.is_empty() {
        return None;
    }
    Some(if address.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// The Kafka brokers registered in the ZooKeeper ensemble `zk_quorum`
/// (`host:port[,host:port...][/chroot]`) as a comma-separated `bootstrap.servers` list, in
/// broker id order, preferring PLAINTEXT listeners. Gives up after `timeout`.
///
/// Errors: a malformed quorum (`InvalidArgument`); an ensemble that cannot be reached in time
/// (`Io`, saying how to name the brokers instead); no `<chroot>/brokers/ids` (`InvalidArgument`,
/// naming the path); no broker registered there or a registration that cannot be read
/// (`IllegalState`).
pub fn brokers_from_zookeeper(zk_quorum: &str, timeout: Duration) -> Result<String> {
    brokers_from_zookeeper_for(zk_quorum, timeout, "PLAINTEXT")
}

/// [`brokers_from_zookeeper`] preferring the listeners of security protocol `protocol` (the
/// `security.protocol` a consumer will use, e.g. `SASL_SSL`).
pub fn brokers_from_zookeeper_for(
    zk_quorum: &str,
    timeout: Duration,
    protocol: &str,
) -> Result<String> {
    let quorum = parse_quorum(zk_quorum)?;
    let protocol = protocol.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let task_quorum = quorum.clone();
    // Spawned rather than `block_on`, so that a caller already inside a runtime does not panic.
    super::runtime().spawn(async move {
        let found = tokio::time::timeout(timeout, discover(&task_quorum, timeout, &protocol)).await;
        let _ = tx.send(found);
    });
    let unreachable = |why: String| {
        EngineError::io(
            format!(
                "cannot read the Kafka brokers from the ZooKeeper ensemble {zk_quorum:?}: {NAME_BROKERS}"
            ),
            std::io::Error::new(std::io::ErrorKind::TimedOut, why),
        )
    };
    // The task answers within `timeout`; the margin covers a busy runtime.
    match rx.recv_timeout(timeout + Duration::from_secs(5)) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(_) => Err(unreachable(format!(
            "no answer within {:.1} s",
            timeout.as_secs_f64()
        ))),
    }
}

async fn discover(quorum: &Quorum, timeout: Duration, protocol: &str) -> Result<String> {
    let ensemble = quorum.connect_string();
    let unreachable = |e: zk::Error| {
        let kind = match e {
            zk::Error::Timeout => std::io::ErrorKind::TimedOut,
            zk::Error::NoHosts => std::io::ErrorKind::ConnectionRefused,
            _ => std::io::ErrorKind::Other,
        };
        EngineError::io(
            format!(
                "cannot read the Kafka brokers from the ZooKeeper ensemble {ensemble:?}: {NAME_BROKERS}"
            ),
            std::io::Error::new(kind, format!("ZooKeeper: {e}")),
        )
    };
    let client = zk::Client::connector()
        .with_connection_timeout(timeout)
        .with_session_timeout(timeout.clamp(Duration::from_secs(4), Duration::from_secs(40)))
        // Every server tried once: an unreachable ensemble fails now, not at the deadline.
        .with_fail_eagerly()
        .connect(&ensemble)
        .await
        .map_err(unreachable)?;
    let ids_path = quorum.broker_ids_path();
    let mut ids = match client.list_children(&ids_path).await {
        Ok(ids) => ids,
        Err(zk::Error::NoNode) => {
            return Err(EngineError::InvalidArgument(format!(
                "the ZooKeeper ensemble {ensemble:?} has no Kafka broker registrations: the path \
                 {ids_path} does not exist (is the chroot in zkQuorum the one in the brokers' \
                 zookeeper.connect? a Kafka in KRaft mode registers nothing in ZooKeeper); \
                 {NAME_BROKERS}"
            )));
        }
        Err(e) => return Err(unreachable(e)),
    };
    // Broker ids are numbers: order them as numbers.
    ids.sort_by_key(|id| (id.parse::<i64>().unwrap_or(i64::MAX), id.clone()));
    let mut brokers: Vec<String> = Vec::with_capacity(ids.len());
    for id in &ids {
        let path = format!("{ids_path}/{id}");
        let data = match client.get_data(&path).await {
            Ok((data, _stat)) => data,
            // The broker went away between the listing and the read.
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(unreachable(e)),
        };
        let address = endpoint_from_registration(&data, &path, protocol)?;
        if !brokers.contains(&address) {
            brokers.push(address);
        }
    }
    if brokers.is_empty() {
        return Err(EngineError::IllegalState(format!(
            "no Kafka broker is registered in the ZooKeeper ensemble {ensemble:?} under \
             {ids_path} (are the brokers running?); {NAME_BROKERS}"
        )));
    }
    Ok(brokers.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quorum(servers: &[&str], chroot: &str) -> Quorum {
        Quorum {
            servers: servers.iter().map(|s| s.to_string()).collect(),
            chroot: chroot.to_string(),
        }
    }

    #[test]
    fn quorum_hosts_ports_and_chroot() {
        assert_eq!(
            parse_quorum("localhost:2181").unwrap(),
            quorum(&["localhost:2181"], "")
        );
        assert_eq!(
            parse_quorum("zk1:2181,zk2:2182, zk3/kafka").unwrap(),
            quorum(&["zk1:2181", "zk2:2182", "zk3:2181"], "/kafka")
        );
        assert_eq!(
            parse_quorum("127.0.0.1:2181/a/b/").unwrap(),
            quorum(&["127.0.0.1:2181"], "/a/b")
        );
        assert_eq!(parse_quorum("h:1/").unwrap(), quorum(&["h:1"], ""));
        assert_eq!(
            parse_quorum("[::1]:2181,[fe80::1]/k").unwrap(),
            quorum(&["[::1]:2181", "[fe80::1]:2181"], "/k")
        );
        assert_eq!(
            parse_quorum("h:1/kafka").unwrap().broker_ids_path(),
            "/kafka/brokers/ids"
        );
        assert_eq!(
            parse_quorum("h:1").unwrap().broker_ids_path(),
            "/brokers/ids"
        );
    }

    #[test]
    fn malformed_quorums_are_named() {
        for (bad, why) in [
            ("", "it is empty"),
            ("  ", "it is empty"),
            ("h:2181,,h2:2181", "a server address is empty"),
            ("h:notaport", "invalid port \"notaport\""),
            ("h:0", "invalid port \"0\""),
            ("h:70000", "invalid port"),
            (":2181", "has no valid host"),
            ("h:1//kafka", "invalid path element"),
            ("h:1/a/../b", "invalid path element"),
            ("::1:2181", "\"::1:2181\""),
            ("[::1:2181", "\"[::1:2181\""),
        ] {
            let err = parse_quorum(bad).unwrap_err();
            let EngineError::InvalidArgument(message) = &err else {
                panic!("{bad:?}: {err:?}");
            };
            assert!(
                message.contains("is not a ZooKeeper connect string"),
                "{message}"
            );
            assert!(message.contains(why), "{bad:?}: {message}");
        }
    }

    const PATH: &str = "/kafka/brokers/ids/0";

    #[test]
    fn registration_endpoints() {
        // As Kafka 3.9 writes it (seen on this project's ZooKeeper-mode test broker).
        let json = br#"{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},
            "endpoints":["PLAINTEXT://127.0.0.1:41833"],"jmx_port":-1,"port":41833,
            "host":"127.0.0.1","version":5,"timestamp":"1796387443261"}"#;
        assert_eq!(
            endpoint_from_registration(json, PATH, "PLAINTEXT").unwrap(),
            "127.0.0.1:41833"
        );
        // Named listeners map to protocols; the wanted protocol wins, else the first endpoint.
        let json = br#"{"listener_security_protocol_map":{"INTERNAL":"SASL_SSL","EXT":"PLAINTEXT"},
            "endpoints":["INTERNAL://10.0.0.1:9093","EXT://broker.example:9092"],
            "host":null,"port":-1,"version":4}"#;
        assert_eq!(
            endpoint_from_registration(json, PATH, "PLAINTEXT").unwrap(),
            "broker.example:9092"
        );
        assert_eq!(
            endpoint_from_registration(json, PATH, "sasl_ssl").unwrap(),
            "10.0.0.1:9093"
        );
        assert_eq!(
            endpoint_from_registration(json, PATH, "SSL").unwrap(),
            "10.0.0.1:9093"
        );
        let json = br#"{"endpoints":["SSL://[::1]:9093"],"version":4}"#;
        assert_eq!(
            endpoint_from_registration(json, PATH, "PLAINTEXT").unwrap(),
            "[::1]:9093"
        );
    }

    #[test]
    fn registration_host_and_port_without_endpoints() {
        let json =
            br#"{"jmx_port":-1,"timestamp":"1","host":"old-broker","version":1,"port":9092}"#;
        assert_eq!(
            endpoint_from_registration(json, PATH, "PLAINTEXT").unwrap(),
            "old-broker:9092"
        );
        let json = br#"{"endpoints":[],"host":"b","port":9092}"#;
        assert_eq!(
            endpoint_from_registration(json, PATH, "PLAINTEXT").unwrap(),
            "b:9092"
        );
    }

    #[test]
    fn malformed_registrations_are_named() {
        for (json, why) in [
            (&b"not json"[..], "not JSON"),
            (b"[1, 2]", "not a JSON object"),
            (
                br#"{"endpoints":"PLAINTEXT://h:1"}"#,
                "\"endpoints\" is not a list",
            ),
            (br#"{"endpoints":[7]}"#, "endpoint 7 is not a string"),
            (
                br#"{"endpoints":["h:9092"]}"#,
                "is not LISTENER://host:port",
            ),
            (
                br#"{"endpoints":["PLAINTEXT://:9092"]}"#,
                "has no host:port",
            ),
            (br#"{"endpoints":["PLAINTEXT://h:x"]}"#, "has no host:port"),
            (br#"{"host":"h","port":-1}"#, "neither \"endpoints\" nor"),
            (br#"{"version":5}"#, "neither \"endpoints\" nor"),
        ] {
            let err = endpoint_from_registration(json, PATH, "PLAINTEXT").unwrap_err();
            let EngineError::IllegalState(message) = &err else {
                panic!("{err:?}");
            };
            assert!(message.contains(PATH), "{message}");
            assert!(message.contains(why), "{why}: {message}");
            assert!(message.contains("metadata.broker.list"), "{message}");
        }
    }

    #[test]
    fn an_unreachable_ensemble_says_how_to_name_the_brokers() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = std::time::Instant::now();
        let err =
            brokers_from_zookeeper(&format!("127.0.0.1:{port}/kafka"), Duration::from_secs(5))
                .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let EngineError::Io { context, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(context.contains(&format!("127.0.0.1:{port}")), "{context}");
        assert!(context.contains("metadata.broker.list"), "{err}");
        assert!(context.contains("bootstrap.servers"), "{err}");
    }

    /// Against a running ZooKeeper-mode Kafka (`scripts/kafka.sh start --zookeeper DIR`):
    /// `FERROSTREAM_TEST_ZK=127.0.0.1:PORT/kafka FERROSTREAM_TEST_BOOTSTRAP=127.0.0.1:PORT
    /// cargo test --no-default-features --lib zookeeper -- --ignored`.
    #[test]
    #[ignore = "needs a ZooKeeper-mode Kafka: set FERROSTREAM_TEST_ZK and FERROSTREAM_TEST_BOOTSTRAP"]
    fn brokers_of_a_running_zookeeper_mode_kafka() {
        let zk_quorum = std::env::var("FERROSTREAM_TEST_ZK").expect("FERROSTREAM_TEST_ZK");
        let bootstrap =
            std::env::var("FERROSTREAM_TEST_BOOTSTRAP").expect("FERROSTREAM_TEST_BOOTSTRAP");
        let timeout = Duration::from_secs(10);
        assert_eq!(
            brokers_from_zookeeper(&zk_quorum, timeout).unwrap(),
            bootstrap
        );

        // The same ensemble without the chroot has no registrations: the path is named.
        let root = zk_quorum.split('/').next().unwrap();
        let err = brokers_from_zookeeper(root, timeout).unwrap_err();
        let EngineError::InvalidArgument(message) = &err else {
            panic!("{err:?}");
        };
        assert!(
            message.contains("the path /brokers/ids does not exist"),
            "{message}"
        );
        let err = brokers_from_zookeeper(&format!("{root}/elsewhere"), timeout).unwrap_err();
        assert!(err.to_string().contains("/elsewhere/brokers/ids"), "{err}");
    }
}
