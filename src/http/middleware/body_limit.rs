//! The request body limit, refused in the caller's format: an RFC 6749 section 5.2 JSON
//! error from the protocol's form endpoints, the error page from everything else.

use std::{pin::Pin, time::Duration};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    http::{page::PageError, paths},
    oidc::error::OAuthError,
};

/// Bodies larger than this are refused with 413 before a handler sees them; no form
/// or token request of ours comes near it.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// How much of a refused body is read and dropped so that the refusal arrives, and for
/// how long; past either, the connection is closed and the client may see a reset.
const DISCARD_BYTES: usize = 1024 * 1024;
const DISCARD_TIME: Duration = Duration::from_secs(5);

/// Refuses a body over `MAX_BODY_BYTES` with 413, known from its Content-Length before
/// a byte is read, or as soon as a chunked body grows past the limit. The body is read
/// whole here, not left to the extractors: each handler maps its own rejection (the
/// login form's to a 400 page), so only here can every refusal have one status and shape.
pub(crate) async fn limit_body(request: Request, next: Next) -> Response {
    let caller = Caller::of(request.uri().path());
    let (parts, mut body) = request.into_parts();
    // hyper's size hint is the declared Content-Length.
    let read = if body.size_hint().lower() > MAX_BODY_BYTES as u64 {
        Err(Refusal::TooLarge)
    } else {
        read_limited(&mut body).await
    };
    match read {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(refusal) => {
            if let Refusal::TooLarge = refusal {
                discard_rest(body).await;
            }
            caller.refuse(refusal)
        }
    }
}

enum Refusal {
    TooLarge,
    /// The client went away mid-body, or sent a malformed chunk.
    Unreadable,
}

async fn read_limited(body: &mut Body) -> Result<Bytes, Refusal> {
    let mut read = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| Refusal::Unreadable)?.into_data() else {
            continue; // trailers: nothing of ours reads them
        };
        if read.len() + data.len() > MAX_BODY_BYTES {
            return Err(Refusal::TooLarge);
        }
        read.extend_from_slice(&data);
    }
    Ok(Bytes::from(read))
}

/// Reads and drops the rest of a refused body, within bounds. hyper closes a connection
/// whose request body is left unread, and closing with the client's bytes still
/// arriving makes our TCP stack reset the connection, which can destroy the 413 in the
/// client's buffers before it is read (RFC 9112 section 9.6).
async fn discard_rest(mut body: Body) {
    if body.size_hint().lower() > DISCARD_BYTES as u64 {
        return;
    }
    let discard = async {
        let mut left = DISCARD_BYTES;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let len = frame.data_ref().map_or(0, Bytes::len);
            let Some(rest) = left.checked_sub(len) else {
                return;
            };
            left = rest;
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIME, discard).await;
}

/// Who is on the other end, by path: a client of the protocol's form endpoints, which
/// reads RFC 6749 errors, or a person.
#[derive(Clone, Copy)]
enum Caller {
    Client,
    Person,
}

impl Caller {
    fn of(path: &str) -> Self {
        match path {
            paths::TOKEN | paths::REVOKE | paths::INTROSPECT | paths::USERINFO => Self::Client,
            _ => Self::Person,
        }
    }

    fn refuse(self, refusal: Refusal) -> Response {
        match (self, refusal) {
            (Self::Client, Refusal::TooLarge) => {
                let mut response =
                    OAuthError::invalid_request("the request body is too large").into_response();
                *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                response
            }
            (Self::Client, Refusal::Unreadable) => {
                OAuthError::invalid_request("the request body could not be read").into_response()
            }
            (Self::Person, Refusal::TooLarge) => PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "This form is too large",
                "What was sent is far more than any form here takes. \
                 Go back, check what you entered, and try again.",
            )
            .into_response(),
            (Self::Person, Refusal::Unreadable) => PageError::bad_request(
                "This form could not be read",
                "The form did not arrive whole. Please try again.",
            )
            .into_response(),
        }
    }
}
