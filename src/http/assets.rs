//! Static assets, compiled into the binary so that it runs from any folder.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

const STYLESHEET: &str = include_str!("../../static/portcullis.css");
const PASSKEYS_SCRIPT: &str = include_str!("../../static/passkeys.js");

/// `GET /static/portcullis.css`
pub(super) async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// `GET /static/passkeys.js`: the WebAuthn ceremonies; no page needs it to work.
pub(super) async fn passkeys_script() -> Response {
    let mut response = PASSKEYS_SCRIPT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
