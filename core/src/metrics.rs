//! Prometheus text over HTTP: `GET /metrics` renders the INFO figures, so dashboards and INFO
//! always agree. Optional (`[metrics] listen`); a deliberately small HTTP/1.1 responder, since
//! all it serves is one read-only page.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use crate::executor::{ExecutorSender, Request};

/// Largest request head read; scrapers send a few hundred bytes.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// A scraper that sends nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the endpoint until `shutdown` changes.
pub async fn serve(
    listener: TcpListener,
    executor: ExecutorSender,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(respond(stream, peer, executor.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn respond(mut stream: TcpStream, peer: SocketAddr, executor: ExecutorSender) {
    let mut head = Vec::with_capacity(512);
    let complete = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    if !complete {
        return;
    }
    let request_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (status, body) = if method != b"GET" {
        ("405 Method Not Allowed", "only GET is served\n".to_string())
    } else if path != b"/metrics" && !path.starts_with(b"/metrics?") {
        ("404 Not Found", "see /metrics\n".to_string())
    } else {
        let (tx, rx) = oneshot::channel();
        if executor.send(Request::Metrics(tx)).is_err() {
            return;
        }
        match rx.await {
            Ok(info) => ("200 OK", prometheus_from_info(&info)),
            Err(_) => return,
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = stream.write_all(response.as_bytes()).await {
        tracing::debug!(%peer, error = %e, "metrics: write failed");
    }
    let _ = stream.shutdown().await;
}

/// Keeps what a Prometheus metric name may hold.
fn metric_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Escapes a label value.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders INFO text as Prometheus text: every numeric `field:value` becomes
/// `respite_field value`; commandstats, errorstats and keyspace lines become labelled series.
pub fn prometheus_from_info(info: &str) -> String {
    let mut out = String::new();
    for line in info.lines() {
        let Some((key, value)) = line.trim_end_matches('\r').split_once(':') else {
            continue; // section headers and blank lines
        };
        if let Some(cmd) = key.strip_prefix("cmdstat_") {
            for (field, v) in value.split(',').filter_map(|kv| kv.split_once('=')) {
                let series = match field {
                    "calls" => "respite_command_calls_total",
                    "usec" => "respite_command_usec_total",
                    "rejected_calls" => "respite_command_rejected_calls_total",
                    "failed_calls" => "respite_command_failed_calls_total",
                    _ => continue,
                };
                let _ = writeln!(out, "{series}{{cmd=\"{}\"}} {v}", label(cmd));
            }
        } else if let Some(code) = key.strip_prefix("errorstat_") {
            if let Some(count) = value.strip_prefix("count=") {
                let _ = writeln!(
                    out,
                    "respite_errors_total{{code=\"{}\"}} {count}",
                    label(code)
                );
            }
        } else if let Some(event) = key.strip_prefix("respite_latency_event_") {
            for (field, v) in value.split(',').filter_map(|kv| kv.split_once('=')) {
                let series = match field {
                    "latest_ms" => "respite_latency_event_latest_ms",
                    "max_ms" => "respite_latency_event_max_ms",
                    _ => continue,
                };
                let _ = writeln!(out, "{series}{{event=\"{}\"}} {v}", label(event));
            }
        } else if let Some(cmd) = key.strip_prefix("latency_percentiles_usec_") {
            for (p, v) in value.split(',').filter_map(|kv| kv.split_once('=')) {
                let Some(Ok(pct)) = p.strip_prefix('p').map(str::parse::<f64>) else {
                    continue;
                };
                let quantile = format!("{:.6}", pct / 100.0);
                let quantile = quantile.trim_end_matches('0').trim_end_matches('.');
                let _ = writeln!(
                    out,
                    "respite_command_latency_usec{{cmd=\"{}\",quantile=\"{quantile}\"}} {v}",
                    label(cmd)
                );
            }
        } else if let Some(db) = key.strip_prefix("db").filter(|d| d.parse::<u32>().is_ok()) {
            for (field, v) in value.split(',').filter_map(|kv| kv.split_once('=')) {
                let _ = writeln!(out, "respite_db_{}{{db=\"{db}\"}} {v}", metric_name(field));
            }
        } else if value.parse::<f64>().is_ok() {
            let _ = writeln!(out, "respite_{} {value}", metric_name(key));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_becomes_prometheus_text() {
        let info = "# Server\r\nredis_version:7.4.0\r\nuptime_in_seconds:12\r\n\r\n\
                    # Clients\r\nconnected_clients:3\r\n\r\n\
                    # Commandstats\r\ncmdstat_client|id:calls=2,usec=5,usec_per_call=2.50,rejected_calls=0,failed_calls=1\r\n\
                    # Errorstats\r\nerrorstat_ERR:count=4\r\n\
                    # Keyspace\r\ndb0:keys=10,expires=2,avg_ttl=0\r\n\
                    # Latencystats\r\nlatency_percentiles_usec_get:p50=1.003,p99.9=5.023\r\n\
                    respite_latency_event_commit:time=1700000000,latest_ms=12,max_ms=40\r\n";
        let text = prometheus_from_info(info);
        assert!(text.contains("respite_uptime_in_seconds 12\n"), "{text}");
        assert!(text.contains("respite_connected_clients 3\n"), "{text}");
        assert!(
            text.contains("respite_command_calls_total{cmd=\"client|id\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("respite_command_failed_calls_total{cmd=\"client|id\"} 1\n"));
        assert!(
            text.contains("respite_errors_total{code=\"ERR\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("respite_db_keys{db=\"0\"} 10\n"), "{text}");
        assert!(text.contains("respite_db_expires{db=\"0\"} 2\n"), "{text}");
        assert!(
            text.contains("respite_command_latency_usec{cmd=\"get\",quantile=\"0.999\"} 5.023\n"),
            "{text}"
        );
        assert!(text.contains("respite_latency_event_max_ms{event=\"commit\"} 40\n"));
        // Text fields are not metrics.
        assert!(!text.contains("redis_version"), "{text}");
    }

    #[test]
    fn names_and_labels_are_escaped() {
        assert_eq!(metric_name("a-b.c"), "a_b_c");
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
