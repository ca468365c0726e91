//! Liveness, readiness, and what unknown paths and hostile requests get.

use crate::both_backends;

both_backends! {
    async fn healthz_and_readyz_answer_while_the_database_is_up(app: TestApp) {
        assert_eq!(app.get_json("/healthz").await.0, 200);
        let (status, body) = app.get_json("/readyz").await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "ready");
    }

    async fn readyz_is_503_when_the_database_is_gone(app: TestApp) {
        app.state.store.db.close().await;
        let (status, body) = app.get_json("/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(body["status"], "unavailable");
    }

    async fn an_unknown_path_is_a_plain_404_page_with_security_headers(app: TestApp) {
        let r = app.http.get(app.url("/nope/../../etc/passwd")).send().await.expect("get");
        assert_eq!(r.status(), 404);
        let h = r.headers().clone();
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let csp = h["content-security-policy"].to_str().expect("ascii");
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(r.text().await.expect("body").contains("Page not found"));
    }

    async fn an_oversized_body_is_refused_with_413(app: TestApp) {
        let body = "a".repeat(200 * 1024);
        let r = app.http.post(app.url("/token")).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.expect("post");
        assert_eq!(r.status(), 413);
    }
}
