//! The UI's HTTP/1 server (hyper) on the engine's tokio runtime.

use std::convert::Infallible;
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::Weak;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use super::config::UiConfig;
use super::{api, pages, WebUi};
use crate::engine::error::{EngineError, Result};

/// Bind the UI's port: `spark.ui.port`, or the next free one (up to `spark.port.maxRetries`
/// more), as Spark's `Utils.startServiceOnPort` does, logging each port that was taken. When
/// none is free, Spark's `Failed to bind to ...` naming the address and the ports tried (the
/// SparkContext is not created, as in Spark); any other error (an address that cannot be
/// resolved or assigned) at once.
pub fn bind(config: &UiConfig) -> Result<TcpListener> {
    let host = config.bind_host.as_str();
    let tries = if config.port == 0 {
        1
    } else {
        u32::from(config.max_retries) + 1
    };
    let mut tried = None;
    let mut last_error = None;
    for i in 0..tries {
        let Some(port) = u16::try_from(u32::from(config.port) + i).ok() else {
            break;
        };
        let addrs = (host, port).to_socket_addrs().map_err(|e| {
            EngineError::io(format!("cannot resolve the UI's bind address {host}"), e)
        })?;
        match TcpListener::bind(addrs.collect::<Vec<_>>().as_slice()) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                if i + 1 < tries {
                    log::warn!(
                        "Service 'SparkUI' could not bind on port {port}. Attempting port {}.",
                        port + 1
                    );
                }
                tried = Some(port);
                last_error = Some(e);
            }
            Err(e) => {
                return Err(EngineError::io(
                    format!("Failed to bind to {host}:{port} for the web UI (spark.ui.port)"),
                    e,
                ))
            }
        }
    }
    let last = tried.unwrap_or(config.port);
    let ports = if last == config.port {
        format!("port {last}")
    } else {
        format!("ports {}-{last}", config.port)
    };
    Err(EngineError::io(
        format!(
            "Failed to bind to {host} on {ports}: Service 'SparkUI' failed after {} retries \
             (starting from {})! Consider explicitly setting the appropriate port for the \
             service 'SparkUI' (for example spark.ui.port for SparkUI) to an available port, \
             increasing spark.port.maxRetries, or setting spark.ui.enabled=false",
            tries - 1,
            config.port
        ),
        last_error.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into()),
    ))
}

/// A running server: [`Handle::stop`] ends it and frees the port.
pub struct Handle {
    shutdown: watch::Sender<bool>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Handle {
    pub fn stop(self) {
        let _ = self.shutdown.send(true);
        // The accept loop drops the listener (frees the port) and says so.
        let _ = self.done.recv_timeout(Duration::from_secs(2));
    }
}

/// Serve `ui` on `listener` from the engine's runtime until the handle is stopped.
pub fn serve(listener: TcpListener, ui: Weak<WebUi>) -> Result<Handle> {
    let runtime = crate::engine::source::runtime();
    let _entered = runtime.enter();
    listener
        .set_nonblocking(true)
        .map_err(|e| EngineError::io("cannot serve the UI", e))?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| EngineError::io("cannot serve the UI", e))?;
    let (shutdown, stopped) = watch::channel(false);
    let (done_tx, done) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let mut stop = stopped.clone();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    tokio::spawn(connection(stream, ui.clone(), stopped.clone()));
                }
            }
        }
        drop(listener);
        let _ = done_tx.send(());
    });
    Ok(Handle { shutdown, done })
}

async fn connection(
    stream: tokio::net::TcpStream,
    ui: Weak<WebUi>,
    mut stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        let answer = respond(&ui, &req);
        async move { Ok::<_, Infallible>(answer) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {}
    }
}

/// What one request gets: the UI's own answer, as bytes with a content type.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
    pub location: Option<String>,
}

impl Reply {
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: Bytes::from(serde_json::to_vec_pretty(body).unwrap_or_default()),
            location: None,
        }
    }

    pub fn text(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into(),
            location: None,
        }
    }
}

/// Route a GET: `/api/v1/...` to the JSON API, the rest to the pages and static files.
pub fn route(ui: &WebUi, path: &str, query: &str) -> Reply {
    if let Some(rest) = path.strip_prefix("/api/v1") {
        let answer = api::answer(ui, rest, query);
        return Reply::json(answer.status, &answer.body);
    }
    pages::page(ui, path, query)
}

fn respond<B>(ui: &Weak<WebUi>, req: &Request<B>) -> Response<Full<Bytes>> {
    let reply = match ui.upgrade() {
        None => Reply::text(503, "text/plain", "the SparkContext was stopped"),
        Some(_) if req.method() != Method::GET && req.method() != Method::HEAD => {
            Reply::text(405, "text/plain", "only GET is served")
        }
        Some(ui) => route(&ui, req.uri().path(), req.uri().query().unwrap_or("")),
    };
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", reply.content_type)
        .header("cache-control", "no-store");
    if let Some(location) = &reply.location {
        builder = builder.header("location", location.as_str());
    }
    let body = if req.method() == Method::HEAD {
        Bytes::new()
    } else {
        reply.body
    };
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::super::WebUi;
    use crate::engine::error::EngineError;

    fn get(url: &str, path: &str) -> String {
        let addr = url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    }

    #[test]
    fn no_free_port_is_an_error_naming_the_ports_tried() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let settings: Vec<(String, String)> = [
            ("spark.ui.port", port.to_string()),
            ("spark.port.maxRetries", "0".to_string()),
            ("spark.driver.bindAddress", "127.0.0.1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let Err(e) = WebUi::start(&settings) else {
            panic!("the UI started on a taken port");
        };
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "Failed to bind to 127.0.0.1 on port {port}: Service 'SparkUI' failed after 0 \
                 retries (starting from {port})!"
            )),
            "{text}"
        );
        assert!(
            matches!(&e, EngineError::Io { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse)
        );
    }

    #[test]
    fn serves_over_http_until_stopped() {
        let settings: Vec<(String, String)> = [
            ("spark.ui.port", "0"),
            ("spark.app.id", "local-1"),
            ("spark.app.name", "served"),
            ("spark.driver.bindAddress", "127.0.0.1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let ui = WebUi::start(&settings)
            .expect("the UI starts")
            .expect("the UI is enabled");
        let reply = get(ui.url(), "/api/v1/applications");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("\"id\": \"local-1\""), "{reply}");
        let missing = get(
            ui.url(),
            "/api/v1/applications/local-2/streaming/statistics",
        );
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        assert!(missing.contains("unknown app: local-2"), "{missing}");
        let page = get(ui.url(), "/");
        assert!(page.starts_with("HTTP/1.1 302"), "{page}");
        assert!(page
            .to_ascii_lowercase()
            .contains("location: /application/"));
        let addr = ui.url().trim_start_matches("http://").to_string();
        ui.stop();
        assert!(TcpStream::connect(addr).is_err(), "the port is free again");
    }
}
