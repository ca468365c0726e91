//! Everything that must be seen by all instances is in the database: two instances of
//! the real binary on one PostgreSQL database behind a round-robin proxy (tests/api/multi/)
//! sign people in, redeem codes, rotate refresh tokens and keys, revoke, sign out and
//! survive a SIGKILL, each request possibly on the other instance. PostgreSQL only:
//! SQLite is a one-instance engine. Each test starts its own pair, together, on an
//! empty database, so each also replays the first-key race (`Cluster::start`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use portcullis::oidc::clients::ClientRegistration;
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    helpers::{postgres_available, web_app},
    multi::{
        Browser, Cluster, assert_alternated, at_base,
        instance::Settings,
        proxy::{Outcome, Served},
        with_params,
    },
    rp::{Rp, callback_params},
};

const CALLBACK: &str = "http://127.0.0.1:1/callback";
const SIGNED_OUT: &str = "http://127.0.0.1:1/signed-out";

/// The most a propagation may take (issue 10: "every instance sees a change within 2 s").
const PROPAGATION: Duration = Duration::from_secs(2);

/// A web app that may also use client_credentials and be returned to at `SIGNED_OUT`.
fn app_registration() -> ClientRegistration {
    let mut reg = web_app(CALLBACK);
    reg.grant_types = vec![
        "authorization_code".into(),
        "refresh_token".into(),
        "client_credentials".into(),
    ];
    reg.post_logout_redirect_uris = vec![SIGNED_OUT.into()];
    reg
}

/// A cluster with `ada` and the app registered, and the app's RP.
async fn cluster_with_app() -> (Cluster, Rp, String, String) {
    let cluster = Cluster::start().await;
    cluster.add_user("ada").await;
    let (id, secret) = cluster.add_client(app_registration()).await;
    let rp = cluster.rp(&id, &secret, CALLBACK).await;
    (cluster, rp, id, secret)
}

/// Signs ada in through the proxy in `browser` and exchanges the code there.
async fn sign_in(rp: &Rp, browser: &Browser) -> openidconnect::core::CoreTokenResponse {
    let started = rp.start(&["openid", "profile", "email"]);
    let callback = browser.sign_in(&started.url, "ada").await;
    rp.exchange(&callback_params(&callback)["code"], started.verifier)
        .await
        .expect("exchange")
}

fn paths(served: &[Served]) -> Vec<String> {
    served
        .iter()
        .map(|s| format!("{} {} -> {}", s.method, s.path, s.upstream))
        .collect()
}

fn assert_invalid_grant(got: &(StatusCode, Value)) {
    assert_eq!(got.0, 400, "{}", got.1);
    assert_eq!(got.1["error"], "invalid_grant", "{}", got.1);
}

/// The `kid` in a JWT's header.
fn kid_of(jwt: &str) -> String {
    let header = jwt.split('.').next().expect("header");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("json");
    header["kid"].as_str().expect("kid").to_owned()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_whose_requests_alternate_between_the_instances_works() {
    if !postgres_available() {
        return;
    }
    let cluster = Cluster::start().await;
    let user = cluster.add_user("ada").await;
    let (id, secret) = cluster.add_client(app_registration()).await;
    let rp = cluster.rp(&id, &secret, CALLBACK).await;
    let browser = Browser::new();

    let mark = cluster.proxy.mark();
    let started = rp.start(&["openid", "profile", "email"]);
    let callback = browser.sign_in(&started.url, "ada").await;
    let params = callback_params(&callback);
    assert_eq!(params["state"], *started.state.secret());
    let tokens = rp
        .exchange(&params["code"], started.verifier)
        .await
        .expect("the code made on one instance is redeemed on the other");
    let info = rp
        .userinfo(tokens.access_token().secret())
        .await
        .expect("userinfo");

    let served = cluster.proxy.since(mark);
    let order = assert_alternated(&served);
    eprintln!("sign-in requests: {:?}", paths(&served));
    let path_at = |method: &str, path: &str| {
        served
            .iter()
            .position(|s| s.method == method && s.path == path)
            .unwrap_or_else(|| panic!("no {method} {path} in {:?}", paths(&served)))
    };
    let (login_page, login_post) = (path_at("GET", "/login"), path_at("POST", "/login"));
    assert_ne!(
        order[login_page], order[login_post],
        "the login form is shown by one instance and posted to the other"
    );
    let (consent, token) = (path_at("POST", "/consent"), path_at("POST", "/token"));
    assert_ne!(order[token], order[token + 1], "userinfo on the other one");
    assert!(consent < token);

    // The ID token, signed by the instance that served /token, verifies against the
    // JWKS discovery fetched (from whichever instance served that).
    let claims = tokens
        .id_token()
        .expect("id token")
        .claims(&rp.client.id_token_verifier(), &started.nonce)
        .expect("the ID token verifies against either instance's JWKS");
    assert_eq!(claims.subject().as_str(), user.id.to_string());
    assert_eq!(info.subject(), claims.subject());
    for i in 0..2 {
        assert_eq!(
            cluster.at(i).userinfo(tokens.access_token().secret()).await,
            200
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_redeemed_twenty_times_across_both_instances_has_one_winner_whose_tokens_are_revoked()
 {
    if !postgres_available() {
        return;
    }
    let (cluster, rp, id, secret) = cluster_with_app().await;
    let browser = Browser::new();
    let started = rp.start(&["openid"]);
    let callback = browser.sign_in(&started.url, "ada").await;
    let code = callback_params(&callback)["code"].clone();
    let verifier = started.verifier.secret().clone();

    let mark = cluster.proxy.mark();
    let proxy = Arc::new(cluster.via_proxy());
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let (proxy, id, secret) = (proxy.clone(), id.clone(), secret.clone());
            let (code, verifier) = (code.clone(), verifier.clone());
            tokio::spawn(async move {
                proxy
                    .token(
                        Some((&id, &secret)),
                        &[
                            ("grant_type", "authorization_code"),
                            ("code", &code),
                            ("redirect_uri", CALLBACK),
                            ("code_verifier", &verifier),
                        ],
                    )
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for attempt in attempts {
        answers.push(attempt.await.expect("attempt"));
    }
    let served = cluster.proxy.since(mark);
    for upstream in 0..2 {
        let count = served.iter().filter(|s| s.upstream == upstream).count();
        assert!(
            count >= 5,
            "instance {upstream} got {count} of the 20: {:?}",
            paths(&served)
        );
    }
    let (winners, losers): (Vec<_>, Vec<_>) = answers.into_iter().partition(|a| a.0 == 200);
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    assert_eq!(losers.len(), 19);
    for loser in &losers {
        assert_invalid_grant(loser);
    }

    let won = &winners[0].1;
    let access = won["access_token"].as_str().expect("access");
    let refresh = won["refresh_token"].as_str().expect("refresh");
    let auth = Some((id.as_str(), secret.as_str()));
    for i in 0..2 {
        let at = cluster.at(i);
        assert_eq!(
            at.userinfo(access).await,
            401,
            "instance {i}: the winner's access token is revoked by the replays"
        );
        assert!(!at.active(auth, access).await);
        assert!(!at.active(auth, refresh).await);
    }
    assert_invalid_grant(
        &cluster
            .via_proxy()
            .token(
                auth,
                &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            )
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotation_works_across_instances_and_reuse_on_the_other_revokes_the_grant() {
    if !postgres_available() {
        return;
    }
    let (cluster, rp, id, secret) = cluster_with_app().await;
    let auth = Some((id.as_str(), secret.as_str()));
    let tokens = sign_in(&rp, &Browser::new()).await;
    let first = tokens.refresh_token().expect("refresh").secret().clone();

    let mark = cluster.proxy.mark();
    let refresh = |token: String| {
        let proxy = cluster.via_proxy();
        async move {
            let got = proxy
                .token(
                    auth,
                    &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                )
                .await;
            assert_eq!(got.0, 200, "{}", got.1);
            got.1
        }
    };
    let second = refresh(first.clone()).await;
    let second_refresh = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    let third = refresh(second_refresh.clone()).await;
    let newest = third["refresh_token"].as_str().expect("rotated").to_owned();
    let newest_access = third["access_token"].as_str().expect("access").to_owned();
    let order = assert_alternated(&cluster.proxy.since(mark));
    // The instance that rotated `second_refresh` away, and the other one.
    let (rotated_on, other) = (order[1], order[0]);
    for i in 0..2 {
        assert_eq!(cluster.at(i).userinfo(&newest_access).await, 200);
    }

    assert_invalid_grant(
        &cluster
            .at(other)
            .token(
                auth,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &second_refresh),
                ],
            )
            .await,
    );
    assert_invalid_grant(
        &cluster
            .at(rotated_on)
            .token(
                auth,
                &[("grant_type", "refresh_token"), ("refresh_token", &newest)],
            )
            .await,
    );
    for i in 0..2 {
        let at = cluster.at(i);
        assert!(!at.active(auth, &newest).await, "instance {i}");
        assert_eq!(
            at.userinfo(&newest_access).await,
            401,
            "instance {i}: the grant's access token is revoked with it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_is_seen_at_once_by_the_other() {
    if !postgres_available() {
        return;
    }
    let (cluster, rp, id, secret) = cluster_with_app().await;
    let auth = Some((id.as_str(), secret.as_str()));
    let (a, b) = (cluster.at(0), cluster.at(1));
    let browser = Browser::new();

    let tokens = sign_in(&rp, &browser).await;
    let access = tokens.access_token().secret();
    assert_eq!(b.userinfo(access).await, 200);
    assert!(b.active(auth, access).await);
    assert_eq!(a.revoke(auth, access).await, 200);
    assert!(!b.active(auth, access).await, "revoked on a, inactive on b");
    assert_eq!(b.userinfo(access).await, 401);
    assert_eq!(a.userinfo(access).await, 401);

    let tokens = sign_in(&rp, &browser).await;
    let (access, refresh) = (
        tokens.access_token().secret(),
        tokens.refresh_token().expect("refresh").secret(),
    );
    assert!(a.active(auth, refresh).await);
    assert_eq!(b.revoke(auth, refresh).await, 200);
    assert!(
        !a.active(auth, refresh).await,
        "revoked on b, inactive on a"
    );
    assert_invalid_grant(
        &a.token(
            auth,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await,
    );
    assert_eq!(
        a.userinfo(access).await,
        401,
        "a revoked refresh token takes its grant's access tokens along"
    );
}

/// Runs `portcullis keys rotate [extra]` against the cluster's database; its stdout.
async fn rotate(settings: &Settings, extra: &'static [&'static str]) -> String {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let mut args = vec!["keys", "rotate"];
        args.extend_from_slice(extra);
        let out = settings.command(&args).output().expect("run keys rotate");
        assert!(
            out.status.success(),
            "keys rotate {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .expect("rotate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_reaches_both_instances_within_two_seconds() {
    if !postgres_available() {
        return;
    }
    let (cluster, _, id, secret) = cluster_with_app().await;
    let auth = Some((id.as_str(), secret.as_str()));
    let client_credentials = [("grant_type", "client_credentials")];
    let token_at = |i: usize| {
        let at = cluster.at(i);
        async move {
            let got = at.token(auth, &client_credentials).await;
            assert_eq!(got.0, 200, "{}", got.1);
            got.1["access_token"].as_str().expect("token").to_owned()
        }
    };
    let old = kid_of(&token_at(0).await);
    assert_eq!(kid_of(&token_at(1).await), old);

    // A scheduled rotation publishes its key on both within the bound; neither signs
    // with it before `keys.publish_ahead` has passed.
    rotate(&cluster.settings, &[]).await;
    let scheduled = Instant::now();
    let mut published = [None, None];
    while published.iter().any(Option::is_none) && scheduled.elapsed() < Duration::from_secs(10) {
        for (i, slot) in published.iter_mut().enumerate() {
            if slot.is_none() && kids(&cluster.at(i).jwks().await).len() == 2 {
                *slot = Some(scheduled.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let [Some(pub_a), Some(pub_b)] = published else {
        panic!("the scheduled key was not published by both within 10 s: {published:?}");
    };
    eprintln!("scheduled key published: instance a {pub_a:?}, instance b {pub_b:?}");
    assert!(
        pub_a <= PROPAGATION && pub_b <= PROPAGATION,
        "a new key reaches every JWKS within {PROPAGATION:?}: a {pub_a:?}, b {pub_b:?}"
    );
    assert_eq!(
        kid_of(&token_at(0).await),
        old,
        "published, not yet signing"
    );
    assert_eq!(
        kid_of(&token_at(1).await),
        old,
        "published, not yet signing"
    );

    // The emergency rotation: a new key signs at once and the others are removed.
    rotate(&cluster.settings, &["--now"]).await;
    let rotated = Instant::now();
    // When each instance both publishes and signs with a key other than `old`.
    let mut seen: [Option<(Duration, String)>; 2] = [None, None];
    while seen.iter().any(Option::is_none) && rotated.elapsed() < Duration::from_secs(10) {
        for (i, slot) in seen.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let kid = kid_of(&token_at(i).await);
            if kid != old && kids(&cluster.at(i).jwks().await).contains(&kid) {
                *slot = Some((rotated.elapsed(), kid));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let [Some((at_a, kid_a)), Some((at_b, kid_b))] = seen else {
        panic!("the rotation did not reach both instances within 10 s: {seen:?}");
    };
    eprintln!(
        "key rotation propagation (keys rotate --now exited -> new kid signing and published): \
         instance a {at_a:?}, instance b {at_b:?}"
    );
    assert_eq!(kid_a, kid_b, "both sign with the one new key");
    assert!(
        at_a <= PROPAGATION && at_b <= PROPAGATION,
        "a rotation reaches every instance within {PROPAGATION:?}: a {at_a:?}, b {at_b:?}"
    );
    // A token signed by one verifies on the other.
    assert!(cluster.at(1).active(auth, &token_at(0).await).await);
    assert!(cluster.at(0).active(auth, &token_at(1).await).await);
    for i in 0..2 {
        assert_eq!(
            kids(&cluster.at(i).jwks().await),
            vec![kid_a.clone()],
            "instance {i}: `rotate --now` removes every other key from the JWKS"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_instance_ends_the_session_on_the_other() {
    if !postgres_available() {
        return;
    }
    let (cluster, rp, _, _) = cluster_with_app().await;
    let (a, b) = (&cluster.instances[0], &cluster.instances[1]);
    let browser = Browser::new();
    let tokens = sign_in(&rp, &browser).await;
    let id_token = tokens.id_token().expect("id token").to_string();

    let silent = |base: &str| {
        let started = rp.start(&["openid"]);
        let url = with_params(&started.url, &[("prompt", "none")]);
        (at_base(&url, base), started)
    };
    let (url, started) = silent(&b.base);
    let params = callback_params(&browser.location(&url).await);
    assert_eq!(params["state"], *started.state.secret());
    assert!(
        params.contains_key("code"),
        "the session made through the proxy is known to b: {params:?}"
    );

    let logout = with_params(
        &a.url("/logout"),
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ],
    );
    assert_eq!(browser.location(&logout).await, SIGNED_OUT);

    for base in [&b.base, &a.base, &cluster.proxy.base] {
        let (url, started) = silent(base);
        let params = callback_params(&browser.location(&url).await);
        assert_eq!(params["state"], *started.state.secret());
        assert_eq!(
            params.get("error").map(String::as_str),
            Some("login_required"),
            "signed out on a, so no session at {base}: {params:?}"
        );
    }
}

/// Polls `done` until it holds; panics after 20 s, naming `what` it waited for.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited 20 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the traffic loop saw.
#[derive(Default)]
struct Traffic {
    ok: AtomicUsize,
    failed: std::sync::Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_traffic_and_restarted_loses_nothing() {
    if !postgres_available() {
        return;
    }
    let (mut cluster, rp, id, secret) = cluster_with_app().await;
    let auth = Some((id.as_str(), secret.as_str()));
    let browser = Browser::new();
    let tokens = sign_in(&rp, &browser).await;
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().expect("refresh").secret().clone();
    let machine = cluster
        .via_proxy()
        .token(auth, &[("grant_type", "client_credentials")])
        .await;
    let machine = machine.1["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = Arc::new(Traffic::default());
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (proxy, stop, traffic) = (cluster.via_proxy(), stop.clone(), traffic.clone());
            let (id, secret, access) = (id.clone(), secret.clone(), access.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let token = proxy
                        .try_post(
                            "/token",
                            Some((&id, &secret)),
                            &[("grant_type", "client_credentials")],
                        )
                        .await
                        .map(|got| got.0);
                    let userinfo = proxy.try_userinfo(&access).await;
                    for (what, got) in [("token", token), ("userinfo", userinfo)] {
                        match got {
                            Ok(StatusCode::OK) => {
                                traffic.ok.fetch_add(1, Ordering::SeqCst);
                            }
                            other => traffic
                                .failed
                                .lock()
                                .expect("failures")
                                .push(format!("{what}: {other:?}")),
                        }
                    }
                }
            })
        })
        .collect();

    // Waits for what the traffic shows rather than for a fixed time: a loaded CI
    // machine may serve ten times fewer requests in a second than a laptop.
    wait_until("traffic before the kill", || {
        traffic.ok.load(Ordering::SeqCst) >= 40
    })
    .await;
    let before_kill = traffic.ok.load(Ordering::SeqCst);
    let kill_mark = cluster.proxy.mark();
    cluster.instances[1].kill();
    let refused_since = |mark: usize| {
        cluster
            .proxy
            .since(mark)
            .iter()
            .filter(|s| s.outcome == Outcome::Refused)
            .count()
    };
    wait_until("requests meeting the dead instance", || {
        refused_since(kill_mark) >= 5
    })
    .await;
    // Issued by the survivor while the other is down: the restarted one must know it.
    let during = cluster
        .via_proxy()
        .token(auth, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(during.0, 200, "{}", during.1);
    let during = during.1["access_token"].as_str().expect("token").to_owned();
    let restarting = Instant::now();
    cluster.instances[1].restart();
    cluster.instances[1].wait_ready().await;
    let ready_in = restarting.elapsed();
    let back = cluster.proxy.mark();
    let answered_by_b = |mark: usize| {
        cluster
            .proxy
            .since(mark)
            .iter()
            .filter(|s| s.upstream == 1 && s.outcome == Outcome::Answered(200))
            .count()
    };
    wait_until("the restarted instance serving", || {
        answered_by_b(back) >= 20
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("traffic worker");
    }

    let served = cluster.proxy.since(kill_mark);
    let lost: Vec<_> = served
        .iter()
        .filter(|s| s.outcome == Outcome::Lost)
        .collect();
    let refused = served
        .iter()
        .filter(|s| s.outcome == Outcome::Refused)
        .count();
    let served_again = answered_by_b(back);
    let failed = traffic.failed.lock().expect("failures").clone();
    let ok = traffic.ok.load(Ordering::SeqCst);
    eprintln!(
        "kill and restart: {ok} requests answered ({before_kill} before the kill), \
         {} failed (in flight on the killed instance: {}), {refused} passed on to the \
         other instance while it was down, restart-to-ready {ready_in:?}, \
         {served_again} served by the restarted instance",
        failed.len(),
        lost.len()
    );
    assert!(
        failed.len() <= 4 && failed.len() == lost.len(),
        "only requests in flight on the killed instance may fail: {failed:?}, lost {lost:?}"
    );
    assert!(
        lost.iter().all(|s| s.upstream == 1),
        "only on the killed one: {lost:?}"
    );

    // Everything issued before the kill, or during the outage, works on both, the
    // restarted one included.
    for i in 0..2 {
        let at = cluster.at(i);
        assert_eq!(at.userinfo(&access).await, 200, "instance {i}");
        assert!(at.active(auth, &refresh).await, "instance {i}");
        assert!(at.active(auth, &machine).await, "instance {i}");
        assert!(at.active(auth, &during).await, "instance {i}");
    }
    let started = rp.start(&["openid"]);
    let silent = with_params(&started.url, &[("prompt", "none")]);
    let params = callback_params(
        &browser
            .location(&at_base(&silent, &cluster.instances[1].base))
            .await,
    );
    assert!(
        params.contains_key("code"),
        "the session from before the kill is known to the restarted instance: {params:?}"
    );
    let refreshed = cluster
        .at(1)
        .token(
            auth,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(refreshed.0, 200, "{}", refreshed.1);
}
