//! `[log]`: what the logs look like and how much they say.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    Text,
    Json,
}

impl TryFrom<String> for LogFormat {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        match raw.as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("`{other}` is neither \"text\" nor \"json\"")),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter, as in RUST_LOG.
    pub filter: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_format_is_text_or_json() {
        assert_eq!(LogFormat::try_from("text".to_owned()), Ok(LogFormat::Text));
        assert_eq!(LogFormat::try_from("json".to_owned()), Ok(LogFormat::Json));
    }

    #[test]
    fn another_log_format_is_refused_by_its_value() {
        let e = LogFormat::try_from("JSON".to_owned());
        assert_eq!(e, Err("`JSON` is neither \"text\" nor \"json\"".to_owned()));
    }
}
