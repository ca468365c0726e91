//! Unit tests of authorization request validation.

use super::*;

fn client(public: bool) -> StoredClient {
    StoredClient {
        client_id: "c1".into(),
        secret_hash: None,
        name: "App".into(),
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "https://app.example/cb2?x=1".into(),
        ],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into()],
        public,
        token_endpoint_auth_methods: vec!["none".into()],
        resource_audiences: vec![],
        allowed_scopes: vec!["openid".into(), "email".into()],
        first_party: false,
        created_at: 0,
        require_second_factor: false,
    }
}

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn params(extra: &[(&str, &str)]) -> RawParams {
    let mut p: Vec<(String, String)> = [
        ("client_id", "c1"),
        ("redirect_uri", "https://app.example/cb"),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s t&a=te"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k.to_string(), v.to_string()));
        }
    }
    RawParams::new(p).expect("clean")
}

fn error_of(extra: &[(&str, &str)], public: bool) -> &'static str {
    match validate(&params(extra), Some(&client(public)), 0) {
        Err(AuthorizeError::Redirect(e)) => {
            assert_eq!(e.state.as_deref(), Some("s t&a=te"), "state is echoed");
            e.error.as_str()
        }
        other => panic!("expected a redirect error, got {other:?}"),
    }
}

#[test]
fn a_good_request_validates() {
    let r = validate(&params(&[]), Some(&client(true)), 5).expect("valid");
    assert_eq!(r.scopes.to_string(), "openid email");
    assert_eq!(r.received_at, 5);
    assert!(r.scopes.has_openid());
}

#[test]
fn client_and_redirect_uri_errors_never_redirect() {
    let c = client(true);
    assert!(matches!(
        validate(&params(&[]), None, 0),
        Err(AuthorizeError::Unredirectable(_))
    ));
    for uri in [
        "https://app.example/cb/",
        "https://app.example/CB",
        "https://evil.example/cb",
        "https://app.example/cb2",
    ] {
        let r = validate(&params(&[("redirect_uri", uri)]), Some(&c), 0);
        assert!(matches!(r, Err(AuthorizeError::Unredirectable(_))), "{uri}");
    }
    let r = validate(&params(&[("redirect_uri", "")]), Some(&c), 0);
    assert!(
        matches!(r, Err(AuthorizeError::Unredirectable(_))),
        "two registered, none sent"
    );
    let mut pairs = params(&[]).0;
    pairs.push(("redirect_uri".into(), "https://app.example/cb".into()));
    let dup = RawParams::new(pairs).expect("clean");
    assert!(matches!(
        validate(&dup, Some(&c), 0),
        Err(AuthorizeError::Unredirectable(_))
    ));
}

#[test]
fn the_only_registered_redirect_uri_is_the_default() {
    let mut c = client(true);
    c.redirect_uris.truncate(1);
    let r = validate(&params(&[("redirect_uri", "")]), Some(&c), 0).expect("valid");
    assert_eq!(r.redirect_uri.as_str(), "https://app.example/cb");
}

#[test]
fn other_errors_go_back_to_the_client_with_the_right_code() {
    assert_eq!(
        error_of(&[("response_type", "token")], true),
        "unsupported_response_type"
    );
    assert_eq!(error_of(&[("response_type", "")], true), "invalid_request");
    assert_eq!(
        error_of(&[("scope", "openid admin")], true),
        "invalid_scope"
    );
    assert_eq!(error_of(&[("scope", "")], true), "invalid_scope");
    assert_eq!(
        error_of(
            &[("code_challenge", ""), ("code_challenge_method", "")],
            true
        ),
        "invalid_request"
    );
    assert_eq!(
        error_of(&[("code_challenge_method", "plain")], true),
        "invalid_request"
    );
    assert_eq!(
        error_of(&[("code_challenge_method", "")], true),
        "invalid_request"
    );
    assert_eq!(
        error_of(&[("code_challenge", "tooshort")], true),
        "invalid_request"
    );
    assert_eq!(
        error_of(&[("prompt", "none login")], true),
        "invalid_request"
    );
    assert_eq!(error_of(&[("max_age", "-1")], true), "invalid_request");
    assert_eq!(
        error_of(&[("request", "eyJ")], true),
        "request_not_supported"
    );
    assert_eq!(
        error_of(&[("response_mode", "fragment")], true),
        "invalid_request"
    );
}

#[test]
fn a_confidential_client_may_omit_pkce_and_unknown_parameters_are_ignored() {
    let r = validate(
        &params(&[
            ("code_challenge", ""),
            ("code_challenge_method", ""),
            ("foo", "bar"),
        ]),
        Some(&client(false)),
        0,
    );
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn redirects_keep_the_registered_query_and_encode_values() {
    let url = redirect_with(
        "https://app.example/cb2?x=1",
        &[("code", "a b"), ("state", "&=#")],
    )
    .expect("url");
    assert_eq!(url, "https://app.example/cb2?x=1&code=a+b&state=%26%3D%23");
}

#[test]
fn control_characters_anywhere_are_refused() {
    for bad in ["a\0b", "\u{1}", "line\nbreak", "tab\t", "del\u{7f}"] {
        assert!(
            RawParams::new(vec![("nonce".into(), bad.into())]).is_err(),
            "{bad:?}"
        );
        assert!(
            RawParams::new(vec![(bad.into(), "x".into())]).is_err(),
            "{bad:?}"
        );
    }
    assert!(RawParams::new(vec![("nonce".into(), "Ärger ✓ 𝔘".into())]).is_ok());
}

#[test]
fn a_redirect_with_nothing_to_add_is_the_registered_uri_exactly() {
    for uri in [
        "https://app.example/logged-out",
        "https://app.example/cb2?x=1",
        "https://App.Example",
    ] {
        assert_eq!(redirect_with(uri, &[]).as_deref(), Some(uri));
    }
}
