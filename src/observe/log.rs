//! The log: readable lines for people (`log.format = "text"`, coloured only at a
//! terminal), or one flat JSON object per line for collectors (`"json"`): `time`,
//! `level`, `target`, `message`, the event's own fields, and the fields of every span
//! it happened in, side by side. So each line logged while a request is served carries
//! that request's `request_id`, `method` and `route` at the top level, where a query
//! such as `request_id="…"` finds them, not nested under a span list.
//!
//! What goes in is decided where things are logged: never a secret, a code or a token.
//! Requests are logged by their path (never the query, which carries codes and
//! `state`); bodies and headers are not logged at all.

use std::{fmt, io::IsTerminal};

use serde_json::{Map, Value};
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    EnvFilter,
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::{JsonFields, Writer},
        time::{FormatTime, SystemTime},
    },
    registry::LookupSpan,
};

use crate::config::{LogFormat, LogSettings};

/// Starts the process's logging to standard error, as `settings` say; `RUST_LOG`, when
/// set, wins over `log.filter`. Once per process: a second call changes nothing.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder
            .with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .try_init(),
        // Colour only for a person at a terminal: a log file or collector gets plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// One JSON object per event, its span fields flattened beside its own. Needs the span
/// fields stored as JSON (`JsonFields`), which `init` sets.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        line.insert("time".into(), Value::String(time));
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        // Outermost span first, so an inner span's field of the same name wins.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(fields);
                }
            }
        }
        // The event's own fields win over its spans'.
        event.record(&mut Fields(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Reads an event's fields into the line, numbers as numbers.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().to_owned(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    fn json_lines(during: impl FnOnce()) -> Vec<Value> {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, during);
        let bytes = out.0.lock().expect("lock").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn a_json_line_has_span_fields_beside_its_own_at_the_top_level() {
        let lines = json_lines(|| {
            let span = tracing::info_span!("request", request_id = "abc", route = "/token");
            let _in = span.enter();
            let inner = tracing::info_span!("inner", route = "/inner");
            let _inner = inner.enter();
            tracing::info!(status = 200_u16, latency_ms = 1.5, "finished");
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["message"], "finished");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["request_id"], "abc");
        assert_eq!(line["route"], "/inner", "the inner span wins");
        assert_eq!(line["status"], 200);
        assert_eq!(line["latency_ms"], 1.5);
        assert!(
            line["target"]
                .as_str()
                .is_some_and(|t| t.contains("observe"))
        );
        assert!(
            line["time"].as_str().is_some_and(|t| t.len() >= 20),
            "{line}"
        );
    }

    #[test]
    fn an_event_outside_any_span_is_a_line_too_and_quotes_are_escaped() {
        let lines = json_lines(|| tracing::warn!(value = "a \"quoted\"\nline", "odd {}", 1));
        assert_eq!(lines[0]["message"], "odd 1");
        assert_eq!(lines[0]["value"], "a \"quoted\"\nline");
        assert_eq!(lines[0]["level"], "WARN");
    }
}
