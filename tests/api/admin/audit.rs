//! The admin API's audit log, export, overview and key rotation: each filter narrows,
//! paging follows `next_offset`, a bad filter is a 422 naming it, both export formats
//! parse back (CSV defused against formulas), a rotation shows in `/keys` and the
//! JWKS, and every route wants an admin token.

use portcullis::{
    audit::{Actor, Event, EventKind, Origin},
    crypto::Secret,
    oidc::clients::ClientRegistration,
    storage::NewUser,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Api, call};
use crate::{
    both_backends,
    helpers::{PASSWORD, TestApp, hidden},
};

both_backends!(
    each_filter_narrows_the_log_and_pages_follow_next_offset,
    bad_filters_are_422_naming_the_field,
    exports_parse_back_and_csv_is_defused,
    the_overview_counts_users_clients_sessions_and_sign_ins,
    a_rotation_through_the_api_is_published_at_once,
    every_route_wants_an_admin_token,
);

/// One sign-in through the login page, as a browser makes it; true when it signed in.
async fn attempt(app: &TestApp, login: &str, password: &str) -> bool {
    let html = app.get("/login").await.text().await.expect("page");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
        .await;
    r.status() == StatusCode::SEE_OTHER
}

fn items(answer: &super::Answer) -> Vec<Value> {
    answer.body["items"].as_array().cloned().unwrap_or_default()
}

async fn each_filter_narrows_the_log_and_pages_follow_next_offset(app: TestApp) {
    let ada = app.add_user("ada").await;
    let bob = app.add_user("bob").await;
    let start = app.clock.now();
    assert!(!attempt(&app, "ada", "wrong password").await);
    assert!(!attempt(&app, "bob", "wrong password").await);
    assert!(attempt(&app, "ada", PASSWORD).await);
    app.clock.advance(std::time::Duration::from_secs(3600));
    let later = app.clock.now();
    let origin = Origin {
        ip: Some("198.51.100.7".into()),
        user_agent: None,
    };
    app.state
        .audit
        .record(
            Event::by_user(EventKind::ConsentGiven, bob.id)
                .client("reporting")
                .from(&origin),
            later,
        )
        .await;
    let api = Api::new(&app).await;

    let all = api.get("/audit").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let total = all.body["page"]["total"].as_u64().expect("total");
    assert!(total >= 4, "{}", all.body);
    // Newest first.
    let ats: Vec<i64> = items(&all)
        .iter()
        .map(|e| e["at"].as_i64().unwrap())
        .collect();
    assert!(ats.windows(2).all(|w| w[0] >= w[1]), "{ats:?}");
    assert_eq!(items(&all)[0]["event"], "consent_given");
    assert_eq!(items(&all)[0]["description"], "Gave an app access");

    // By username and by id: the same events, all about ada.
    let by_name = api.get("/audit?user=ada").await;
    let by_id = api.get(&format!("/audit?user={}", ada.id)).await;
    assert_eq!(items(&by_name), items(&by_id));
    assert!(!items(&by_name).is_empty());
    assert!(
        items(&by_name)
            .iter()
            .all(|e| e["user_id"] == ada.id.to_string() && e["username"] == "ada")
    );

    // ada's failed sign-ins: exactly one.
    let failed = api
        .get("/audit?user=ada&event=sign_in&outcome=failure")
        .await;
    assert_eq!(items(&failed).len(), 1, "{}", failed.body);
    assert_eq!(items(&failed)[0]["outcome"], "failure");
    assert_eq!(items(&failed)[0]["actor"], "anonymous");
    let ok = api
        .get("/audit?user=ada&event=sign_in&outcome=success")
        .await;
    assert_eq!(items(&ok).len(), 1, "{}", ok.body);

    // By client, and by time.
    let client = api.get("/audit?client_id=reporting").await;
    assert_eq!(items(&client).len(), 1, "{}", client.body);
    assert_eq!(items(&client)[0]["ip"], "198.51.100.7");
    let recent = api.get(&format!("/audit?from={later}")).await;
    assert!(
        items(&recent)
            .iter()
            .all(|e| e["at"].as_i64().unwrap() >= later)
    );
    assert!(items(&recent).iter().any(|e| e["event"] == "consent_given"));
    let early = api
        .get(&format!("/audit?from={start}&to={}", later - 1))
        .await;
    assert!(!items(&early).iter().any(|e| e["event"] == "consent_given"));
    assert!(items(&early).len() >= 3);
    // RFC 3339 reads the same as Unix seconds.
    let rfc = portcullis::audit::filter::format_time(later);
    let by_rfc = api.get(&format!("/audit?from={rfc}")).await;
    assert_eq!(items(&by_rfc), items(&recent));

    // Paging: one at a time, following next_offset, visits every event once.
    let mut seen = Vec::new();
    let mut offset = Some(0u64);
    while let Some(o) = offset {
        let page = api.get(&format!("/audit?limit=1&offset={o}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(items(&page).iter().map(|e| e["id"].clone()));
        offset = page.body["page"]["next_offset"].as_u64();
        assert!(seen.len() as u64 <= total, "paging runs past the end");
    }
    let all_ids: Vec<Value> = items(&all).iter().map(|e| e["id"].clone()).collect();
    assert_eq!(seen, all_ids);
    // Past the end: nothing, and no next page.
    let past = api.get(&format!("/audit?offset={}", total + 5)).await;
    assert!(items(&past).is_empty());
    assert!(past.body["page"].get("next_offset").is_none());
}

async fn bad_filters_are_422_naming_the_field(app: TestApp) {
    let api = Api::new(&app).await;
    for (query, field) in [
        ("event=not_a_kind", "event"),
        ("event=sign_in%00", "event"),
        ("outcome=maybe", "outcome"),
        ("from=yesterday", "from"),
        ("to=2026-13-40T00:00", "to"),
        ("from=2026-12-02T13:00:00Z&to=2026-12-01T13:00:00Z", "to"),
        ("user=nobody-by-that-name", "user"),
        ("user=%E2%80%AEada%07", "user"),
        ("client_id=%00", "client_id"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("format=csv", "format"),
    ] {
        let answer = api.get(&format!("/audit?{query}")).await;
        answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer.refused_fields(), vec![field.to_owned()], "{query}");
    }
    let long = "x".repeat(300);
    let answer = api.get(&format!("/audit?client_id={long}")).await;
    assert_eq!(answer.refused_fields(), vec!["client_id".to_owned()]);
    // Unreadable queries: 400, naming what could not be read.
    for query in ["limit=ten", "offset=-1", "colour=blue"] {
        api.get(&format!("/audit?{query}"))
            .await
            .assert_problem(StatusCode::BAD_REQUEST);
    }
    for query in ["format=xml", "format=csv&event=nope", "format=csv&limit=5"] {
        let answer = api.get(&format!("/audit/export?{query}")).await;
        answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

/// The export's raw answer.
async fn export(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/admin/api/v1/audit/export?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("export")
}

/// Reads RFC 4180 CSV: quoted cells may hold commas, quotes (doubled) and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

async fn exports_parse_back_and_csv_is_defused(app: TestApp) {
    // A hostile username, stored as is (the sign-up form would refuse it): the export
    // must defuse it anyway.
    let hostile = "=cmd|' /C calc'!A0";
    let mallory = app
        .state
        .store
        .users
        .insert(
            NewUser {
                username: hostile.into(),
                email: "mallory@example.com".into(),
                username_key: hostile.into(),
                email_key: "mallory@example.com".into(),
                email_verified: true,
                password_hash: Secret::from("not a hash".to_owned()),
                display_name: None,
                roles: Vec::new(),
                self_registered: false,
            },
            app.clock.now(),
        )
        .await
        .expect("insert");
    let about = mallory.id;
    let now = app.clock.now();
    // A user agent and a client id with a comma, quotes and (the client id) a newline.
    let user_agent = "=cmd|' /C calc'!A0, \"Agent\"";
    let client_id = "-2+3\nsecond, \"line\"";
    let origin = Origin {
        ip: Some("+1".into()),
        user_agent: Some(user_agent.into()),
    };
    app.state
        .audit
        .record(
            Event::new(EventKind::ProfileUpdated, Actor::User(about))
                .client(client_id)
                .from(&origin)
                .with("note", "@SUM(A1)"),
            now,
        )
        .await;
    let api = Api::new(&app).await;

    let r = export(&app, &api.token, &format!("user={about}&format=csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"portcullis-audit-"),
        "{disposition}"
    );
    assert!(disposition.ends_with(".csv\""), "{disposition}");
    assert_eq!(r.headers()["portcullis-export-truncated"], "false");
    let text = r.text().await.unwrap();
    let rows = parse_csv(&text);
    assert_eq!(rows[0][0], "id");
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let row = rows
        .iter()
        .find(|r| r.get(col("event")).map(String::as_str) == Some("profile_updated"))
        .expect("the event");
    assert_eq!(row.len(), header.len());
    // Each hostile cell comes back whole, defused with a leading '.
    assert_eq!(row[col("username")], format!("'{hostile}"));
    assert!(text.contains(&format!("\"'{hostile}\"")));
    assert_eq!(row[col("user_agent")], format!("'{user_agent}"));
    assert_eq!(row[col("client_id")], format!("'{client_id}"));
    assert!(text.contains("\"'-2+3\nsecond, \"\"line\"\"\""), "{text}");
    assert_eq!(row[col("ip")], "'+1");
    assert!(row[col("detail")].contains("@SUM(A1)"));
    // No cell of the file starts a formula.
    for r in &rows {
        for cell in r {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?}"
            );
        }
    }

    let r = export(&app, &api.token, &format!("user={about}&format=jsonl")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/jsonl")
    );
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let event = lines
        .iter()
        .find(|e| e["event"] == "profile_updated")
        .expect("the event");
    assert_eq!(event["user_agent"], user_agent);
    assert_eq!(event["client_id"], client_id);
    assert_eq!(event["username"], hostile);
    assert_eq!(event["detail"]["note"], "@SUM(A1)");
    assert_eq!(event["user_id"], about.to_string());
    // The same filter as the list.
    let listed = api.get(&format!("/audit?user={about}")).await;
    assert_eq!(lines.len(), items(&listed).len());
    // An export of nothing is a header alone.
    let r = export(&app, &api.token, "event=keys_replaced&format=csv").await;
    assert_eq!(parse_csv(&r.text().await.unwrap()).len(), 1);
}

async fn the_overview_counts_users_clients_sessions_and_sign_ins(app: TestApp) {
    app.add_user("ada").await;
    let api = Api::new(&app).await;
    let before = api.get("/overview").await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    assert!(!attempt(&app, "ada", "wrong").await);
    assert!(!attempt(&app, "nobody", "wrong").await);
    assert!(attempt(&app, "ada", PASSWORD).await);
    let after = api.get("/overview").await;
    let n = |a: &super::Answer, k: &str| a.body[k].as_u64().unwrap_or_else(|| panic!("{k}"));
    assert_eq!(n(&after, "users"), 1);
    assert_eq!(n(&after, "clients"), n(&before, "clients"));
    assert!(n(&after, "clients") >= 1);
    assert_eq!(n(&after, "sign_ins_24h"), n(&before, "sign_ins_24h") + 1);
    assert_eq!(
        n(&after, "failed_sign_ins_24h"),
        n(&before, "failed_sign_ins_24h") + 2
    );
    assert!(n(&after, "active_sessions") >= 1);
    assert_eq!(after.body["signing_kid"], app.state.keys.signing_kid());
    // A day later the sign-ins have aged out of the counts.
    app.clock
        .advance(std::time::Duration::from_secs(24 * 3600 + 1));
    // (The token has expired by then: a fresh one.)
    let api = Api::new(&app).await;
    let later = api.get("/overview").await;
    assert_eq!(n(&later, "sign_ins_24h"), 0);
    assert_eq!(n(&later, "failed_sign_ins_24h"), 0);
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let (_, jwks) = app.get_json("/jwks.json").await;
    jwks["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn a_rotation_through_the_api_is_published_at_once(app: TestApp) {
    let api = Api::new(&app).await;
    let signing = app.state.keys.signing_kid();
    let r = api.post("/keys/rotate", json!({"now": false})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let kid = r.body["kid"].as_str().expect("kid").to_owned();
    assert_eq!(r.body["added"], true);
    assert!(r.body["activate_at"].as_i64().unwrap() > app.clock.now());
    // At once on this instance: the new key published, the old one still signing.
    let keys = api.get("/keys").await;
    let new = items(&keys)
        .into_iter()
        .find(|k| k["kid"] == kid)
        .expect("the new key in /keys");
    assert_eq!(new["state"], "published");
    assert!(jwks_kids(&app).await.contains(&kid));
    assert_eq!(app.state.keys.signing_kid(), signing);
    // Asking again while it waits adds nothing.
    let again = api.post("/keys/rotate", json!({})).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body["kid"], kid.as_str());
    assert_eq!(again.body["added"], false);
    // Recorded once, with the API client as actor.
    let events = api.get("/audit?event=key_rotation_scheduled").await;
    assert_eq!(items(&events).len(), 1, "{}", events.body);
    assert!(
        items(&events)[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("client:")
    );
    assert_eq!(items(&events)[0]["detail"]["kid"], kid.as_str());

    // The emergency rotation: a new key signs at once, every other one is gone.
    let now = api.post("/keys/rotate", json!({"now": true})).await;
    assert_eq!(now.status, StatusCode::ACCEPTED, "{}", now.body);
    let replaced = now.body["kid"].as_str().unwrap().to_owned();
    assert_eq!(app.state.keys.signing_kid(), replaced);
    assert_eq!(jwks_kids(&app).await, vec![replaced.clone()]);
    // Every token the old keys signed is dead now, the caller's own too.
    api.get("/keys")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let api = Api::new(&app).await;
    let events = api.get("/audit?event=keys_replaced").await;
    assert_eq!(items(&events).len(), 1, "{}", events.body);

    // Bodies that do not fit are 400, and nothing rotates.
    for body in [json!({"now": "yes"}), json!({"later": true}), json!([])] {
        api.post("/keys/rotate", body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST);
    }
    assert_eq!(jwks_kids(&app).await, vec![replaced]);
}

async fn every_route_wants_an_admin_token(app: TestApp) {
    let (client, secret) = app
        .add_client(ClientRegistration {
            name: "Reporting job".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["reports:read".into()],
            ..Default::default()
        })
        .await;
    let secret = secret.expect("secret");
    let (_, _, body) = app
        .post_token(
            Some((&client.client_id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let weak = body["access_token"].as_str().expect("token").to_owned();
    let signing = app.state.keys.signing_kid();
    for (method, path, body) in [
        (Method::GET, "/overview", None),
        (Method::GET, "/audit", None),
        (Method::GET, "/audit/export?format=csv", None),
        (Method::POST, "/keys/rotate", Some(json!({"now": true}))),
    ] {
        call(&app, method.clone(), path, None, body.clone())
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
        call(
            &app,
            method.clone(),
            path,
            Some("not-a-token"),
            body.clone(),
        )
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
        call(&app, method, path, Some(&weak), body)
            .await
            .assert_problem(StatusCode::FORBIDDEN);
    }
    assert_eq!(app.state.keys.signing_kid(), signing, "nothing rotated");
    // The OpenAPI document lists every route.
    let (_, doc) = app.get_json("/admin/api/openapi.json").await;
    for path in [
        "/admin/api/v1/overview",
        "/admin/api/v1/audit",
        "/admin/api/v1/audit/export",
        "/admin/api/v1/keys/rotate",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}
