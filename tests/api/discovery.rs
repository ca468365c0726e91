//! Discovery and JWKS, read by the openidconnect crate as a relying party would.

use openidconnect::{IssuerUrl, JsonWebKey, core::CoreProviderMetadata};

use crate::{
    both_backends,
    helpers::{TestApp, redact_issuer},
};

both_backends!(
    the_openidconnect_crate_accepts_discovery_and_jwks,
    discovery_says_exactly_what_is_implemented,
    the_jwks_publishes_rs256_signing_keys_and_is_cacheable,
);

async fn the_openidconnect_crate_accepts_discovery_and_jwks(app: TestApp) {
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let issuer = IssuerUrl::new(app.base.clone()).expect("issuer");
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("discovery is accepted");
    assert_eq!(metadata.issuer().as_str(), app.base);
    let keys = metadata.jwks().keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        keys[0].key_id().map(|k| k.as_str()),
        Some(app.state.keys.signing_kid().as_str())
    );
}

async fn discovery_says_exactly_what_is_implemented(app: TestApp) {
    let (status, doc) = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(status, 200);
    let b = &app.base;
    assert_eq!(doc["issuer"], *b);
    assert_eq!(doc["authorization_endpoint"], format!("{b}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{b}/token"));
    assert_eq!(doc["jwks_uri"], format!("{b}/jwks.json"));
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    insta::assert_json_snapshot!("discovery_document", redact_issuer(&app, &doc));
}

async fn the_jwks_publishes_rs256_signing_keys_and_is_cacheable(app: TestApp) {
    let r = app
        .http
        .get(app.url("/jwks.json"))
        .send()
        .await
        .expect("jwks");
    assert_eq!(r.status(), 200);
    let cache = r.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cache.contains("max-age"), "{cache}");
    let jwks: serde_json::Value = r.json().await.expect("json");
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert!(key["kid"].is_string());
    assert!(key.get("d").is_none(), "no private parts: {key}");
    assert!(key.get("p").is_none(), "no private parts: {key}");
}
