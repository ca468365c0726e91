//! Every request counted and timed (`portcullis_http_requests_total`,
//! `portcullis_http_request_duration_seconds`), and logged once when answered, with its
//! status and latency. Labels are bounded: the route template (never the raw path), a
//! known method or `OTHER`, and the status code.

use std::time::Instant;

use axum::{
    extract::Request,
    http::{Method, StatusCode},
    middleware::Next,
    response::Response,
};

use super::request_id::route_of;
use crate::http::paths;

/// Counts, times and logs the request; inside `request_id::assign`'s span, so the log
/// line carries the request's id, method and route.
pub(in crate::http) async fn observe(request: Request, next: Next) -> Response {
    let route = route_of(&request);
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status();
    metrics::counter!(
        "portcullis_http_requests_total",
        "route" => route.clone(),
        "method" => method,
        "status" => status.as_str().to_owned(),
    )
    .increment(1);
    metrics::histogram!(
        "portcullis_http_request_duration_seconds",
        "route" => route.clone(),
        "method" => method,
    )
    .record(elapsed.as_secs_f64());
    let latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let status = status.as_u16();
    if StatusCode::from_u16(status).is_ok_and(|s| s.is_server_error()) {
        tracing::warn!(status, latency_ms, "request answered with a server error");
    } else if is_probe(&route) {
        // Probes and scrapes come every few seconds: logged only when asked for.
        tracing::debug!(status, latency_ms, "request answered");
    } else {
        tracing::info!(status, latency_ms, "request answered");
    }
    response
}

/// The method as a label: one of the standard ones, else `OTHER`, so that made-up
/// methods cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

fn is_probe(route: &str) -> bool {
    [paths::HEALTHZ, paths::READYZ, paths::METRICS].contains(&route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        let odd = Method::from_bytes(b"FROBNICATE").expect("method");
        assert_eq!(method_label(&odd), "OTHER");
    }
}
