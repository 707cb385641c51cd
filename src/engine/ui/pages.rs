//! The UI's HTML pages and static files. Pages are small shells: `ui.js` fills them from the
//! JSON API and keeps them current (no reload); the charts are drawn by the vendored Chart.js.

use super::api::spark_date;
use super::server::Reply;
use super::WebUi;

/// Chart.js, an unmodified release file (see its README.md and LICENSE.md beside it).
const CHART_JS: &[u8] =
    include_bytes!("../../../python/ferrostream/ui_assets/chart.js/chart.umd.min.js");
const CHART_JS_LICENSE: &[u8] =
    include_bytes!("../../../python/ferrostream/ui_assets/chart.js/LICENSE.md");
const UI_JS: &str = include_str!("assets/ui.js");
const UI_CSS: &str = include_str!("assets/ui.css");

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(ui: &WebUi, page: &str, title: &str, body: &str) -> Reply {
    let app = ui.app();
    let tab = |name: &str, href: &str, label: &str| {
        let class = if name == page {
            " class=\"active\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{class}>{label}</a>")
    };
    let streaming_tab = if ui.streaming().is_some() {
        tab("streaming", "/streaming/", "Streaming")
    } else {
        String::new()
    };
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{name} - {title}</title>\
         <link rel=\"stylesheet\" href=\"/static/ui.css\">\
         <script src=\"/static/chart.umd.min.js\"></script></head>\
         <body data-page=\"{page}\" data-app=\"{id}\" data-start=\"{start}\">\
         <header><span class=\"brand\">ferrostream</span>{app_tab}{streaming_tab}\
         <span class=\"app-name\" title=\"application name\">{name} application UI</span></header>\
         <main><h2>{title}</h2>{body}</main>\
         <script src=\"/static/ui.js\"></script></body></html>",
        name = escape(&app.name),
        title = escape(title),
        id = escape(&app.id),
        start = app.start_time,
        app_tab = tab("application", "/application/", "Application"),
    );
    Reply::text(200, "text/html; charset=utf-8", html)
}

fn application_page(ui: &WebUi) -> Reply {
    let app = ui.app();
    let rows: String = app
        .settings
        .iter()
        .map(|(k, v)| format!("<tr><td>{}</td><td>{}</td></tr>", escape(k), escape(v)))
        .collect();
    let body = format!(
        "<ul class=\"facts\">\
         <li><strong>Name:</strong> {name}</li>\
         <li><strong>Master:</strong> {master}</li>\
         <li><strong>Application id:</strong> {id}</li>\
         <li><strong>User:</strong> {user}</li>\
         <li><strong>Started:</strong> <span class=\"time\" data-ms=\"{start}\">{start_gmt}</span></li>\
         <li><strong>Uptime:</strong> <span id=\"uptime\"></span></li></ul>\
         <h3>Settings</h3><table class=\"table\" id=\"settings\">\
         <thead><tr><th>Name</th><th>Value</th></tr></thead><tbody>{rows}</tbody></table>",
        name = escape(&app.name),
        master = escape(&app.master),
        id = escape(&app.id),
        user = escape(&app.user),
        start = app.start_time,
        start_gmt = spark_date(app.start_time),
    );
    layout(ui, "application", "Application", &body)
}

const STREAMING_BODY: &str = r#"<p id="summary">Waiting for the first batch...</p>
<h3>Statistics</h3>
<table class="table stats" id="stats">
<thead><tr><th></th><th>Timelines (last retained batches)</th><th>Histograms</th></tr></thead>
<tbody>
<tr><td><strong>Input Rate</strong><div class="avg" id="avg-inputRate"></div></td>
<td><canvas id="timeline-inputRate"></canvas></td><td><canvas id="histogram-inputRate"></canvas></td></tr>
<tr><td><strong>Scheduling Delay</strong><div class="avg" id="avg-schedulingDelay"></div></td>
<td><canvas id="timeline-schedulingDelay"></canvas></td><td><canvas id="histogram-schedulingDelay"></canvas></td></tr>
<tr><td><strong>Processing Time</strong><div class="avg" id="avg-processingTime"></div></td>
<td><canvas id="timeline-processingTime"></canvas></td><td><canvas id="histogram-processingTime"></canvas></td></tr>
<tr><td><strong>Total Delay</strong><div class="avg" id="avg-totalDelay"></div></td>
<td><canvas id="timeline-totalDelay"></canvas></td><td><canvas id="histogram-totalDelay"></canvas></td></tr>
</tbody></table>
<h3>Receivers and input streams</h3>
<table class="table" id="receivers"><thead><tr><th>Stream</th><th>Status</th><th>Location</th>
<th>Avg. events/s</th><th>Last error time</th><th>Last error</th></tr></thead><tbody></tbody></table>
<h3 id="active-title">Active Batches (0)</h3>
<table class="table" id="active-batches"><thead><tr><th>Batch Time</th><th>Records</th>
<th>Scheduling Delay</th><th>Processing Time</th><th>Output Ops: Succeeded/Total</th><th>Status</th>
</tr></thead><tbody></tbody></table>
<h3 id="completed-title">Completed Batches (0)</h3>
<table class="table" id="completed-batches"><thead><tr><th>Batch Time</th><th>Records</th>
<th>Scheduling Delay</th><th>Processing Time</th><th>Total Delay</th>
<th>Output Ops: Succeeded/Total</th></tr></thead><tbody></tbody></table>"#;

const BATCH_BODY: &str = r#"<ul class="facts" id="batch-facts"></ul>
<h3>Output Operations</h3>
<table class="table" id="operations"><thead><tr><th>Output Op Id</th><th>Description</th>
<th>Duration</th><th>Status</th><th>Error</th></tr></thead><tbody></tbody></table>
<p><a href="/streaming/">Back to the Streaming tab</a></p>"#;

fn redirect(to: &str) -> Reply {
    Reply {
        location: Some(to.to_string()),
        ..Reply::text(302, "text/plain", format!("see {to}"))
    }
}

/// Answer a GET of a page or a static file.
pub fn page(ui: &WebUi, path: &str, query: &str) -> Reply {
    match path {
        "/" => redirect(if ui.streaming().is_some() {
            "/streaming/"
        } else {
            "/application/"
        }),
        "/application" | "/streaming" | "/streaming/batch" => redirect(&format!(
            "{path}/{}",
            if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            }
        )),
        "/application/" | "/environment/" => application_page(ui),
        "/streaming/" if ui.streaming().is_some() => {
            layout(ui, "streaming", "Streaming Statistics", STREAMING_BODY)
        }
        "/streaming/batch/" if ui.streaming().is_some() => {
            let id = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("id="))
                .unwrap_or_default();
            let title = match id.parse::<i64>() {
                Ok(ms) => format!("Details of batch at {}", spark_date(ms)),
                Err(_) => "Details of batch".into(),
            };
            layout(ui, "batch", &title, BATCH_BODY)
        }
        "/static/chart.umd.min.js" => Reply::text(200, "text/javascript", CHART_JS),
        "/static/chart.js.LICENSE.md" => {
            Reply::text(200, "text/plain; charset=utf-8", CHART_JS_LICENSE)
        }
        "/static/ui.js" => Reply::text(200, "text/javascript", UI_JS),
        "/static/ui.css" => Reply::text(200, "text/css", UI_CSS),
        "/streaming/" | "/streaming/batch/" => Reply::text(
            404,
            "text/plain; charset=utf-8",
            "No StreamingContext has run in this application yet.",
        ),
        _ => Reply::text(
            404,
            "text/plain; charset=utf-8",
            format!("no page at {}", path),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
