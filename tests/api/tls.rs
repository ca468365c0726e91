//! Serving https directly (`[tls]`): a certificate made here, trusted by the client,
//! replaced on disk or reloaded on SIGHUP without dropping open connections. TLS does
//! not touch the database, so these run on SQLite only.

use std::{path::Path, time::Duration};

use openssl::{
    asn1::{Asn1Integer, Asn1Time},
    bn::BigNum,
    ec::{EcGroup, EcKey},
    hash::MessageDigest,
    nid::Nid,
    pkey::PKey,
    x509::{X509Builder, X509NameBuilder, extension::SubjectAlternativeName},
};

use crate::{
    deploy::{BIN, Server},
    helpers::{Backend, TestApp},
};

/// A self-signed certificate for 127.0.0.1 and its key, both PEM.
fn self_signed(serial: u32) -> (Vec<u8>, Vec<u8>) {
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve"))
            .expect("key"),
    )
    .expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "portcullis test")
        .expect("cn");
    let name = name.build();
    let mut cert = X509Builder::new().expect("builder");
    cert.set_version(2).expect("v3");
    let serial = Asn1Integer::from_bn(&BigNum::from_u32(serial).expect("bn")).expect("serial");
    cert.set_serial_number(&serial).expect("serial");
    cert.set_subject_name(&name).expect("subject");
    cert.set_issuer_name(&name).expect("issuer");
    cert.set_pubkey(&key).expect("pubkey");
    cert.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("nbf");
    cert.set_not_after(&Asn1Time::days_from_now(1).expect("later"))
        .expect("exp");
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(None, None))
        .expect("san");
    cert.append_extension(san).expect("ext");
    cert.sign(&key, MessageDigest::sha256()).expect("sign");
    (
        cert.build().to_pem().expect("pem"),
        key.private_key_to_pem_pkcs8().expect("key pem"),
    )
}

/// A client that trusts only `cert`, and keeps its connections open between requests.
fn trusting(cert: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert).expect("cert"))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// Writes a new file and renames it over the old, as certbot and cert-manager do.
fn replace(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

async fn healthz(client: &reqwest::Client, port: u16) -> Result<u16, reqwest::Error> {
    let r = client
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await?;
    Ok(r.status().as_u16())
}

fn port_of(app: &TestApp) -> u16 {
    app.state.config.bind.port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_and_a_certificate_replaced_on_disk_reaches_new_connections() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (cert_a, key_a) = self_signed(1);
    let (cert_b, key_b) = self_signed(2);
    std::fs::write(&cert_file, &cert_a).expect("cert");
    std::fs::write(&key_file, &key_a).expect("key");
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"",
            cert_file.display(),
            key_file.display()
        ),
    )
    .await;
    let port = port_of(&app);
    let old = trusting(&cert_a);
    assert_eq!(healthz(&old, port).await.expect("https"), 200);
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(
        plain.is_err(),
        "plain http on the https port gets no answer"
    );
    assert!(
        healthz(&trusting(&cert_b), port).await.is_err(),
        "a client that does not trust the certificate is refused"
    );

    replace(&key_file, &key_b);
    replace(&cert_file, &cert_b);
    let started = std::time::Instant::now();
    while healthz(&trusting(&cert_b), port).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        healthz(&trusting(&cert_a), port).await.is_err(),
        "new connections get the new certificate only"
    );
    assert_eq!(
        healthz(&old, port).await.expect("the open connection"),
        200,
        "a connection opened before the reload is still served"
    );

    std::fs::write(&cert_file, b"not a certificate").expect("garbage");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        healthz(&trusting(&cert_b), port)
            .await
            .expect("still https"),
        200,
        "a file that cannot be read keeps the certificate served"
    );
}

/// A client that connects and never says hello holds its slot only for
/// `http.header_read_timeout`: the handshake is bounded too.
#[tokio::test]
async fn a_silent_client_is_dropped_at_the_header_read_timeout() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = self_signed(7);
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, &cert).expect("cert");
    std::fs::write(&key_file, &key).expect("key");
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &format!(
            "[http]\nheader_read_timeout = \"1s\"\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"",
            cert_file.display(),
            key_file.display()
        ),
    )
    .await;
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port_of(&app)))
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "closed, not left open: {read:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
}

#[tokio::test]
async fn sighup_reloads_the_certificate_of_the_real_binary() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (cert_a, key_a) = self_signed(3);
    let (cert_b, key_b) = self_signed(4);
    std::fs::write(&cert_file, &cert_a).expect("cert");
    std::fs::write(&key_file, &key_a).expect("key");
    let (c, k) = (
        cert_file.display().to_string(),
        key_file.display().to_string(),
    );
    let mut server = Server::start(
        Backend::Sqlite,
        &[
            ("PORTCULLIS_TLS__CERT_FILE", &c),
            ("PORTCULLIS_TLS__KEY_FILE", &k),
        ],
    )
    .await;
    server.wait_for_log(&["https is served", "issuer"], Duration::from_secs(5));
    assert_eq!(
        healthz(&trusting(&cert_a), server.port)
            .await
            .expect("https"),
        200
    );
    let health = std::process::Command::new(BIN)
        .arg("health")
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{}", server.port))
        .env("PORTCULLIS_TLS__CERT_FILE", &c)
        .env("PORTCULLIS_TLS__KEY_FILE", &k)
        .output()
        .expect("health");
    assert!(
        health.status.success(),
        "the probe speaks https: {health:?}"
    );

    std::fs::write(&key_file, &key_b).expect("key");
    std::fs::write(&cert_file, &cert_b).expect("cert");
    server.signal("HUP");
    server.wait_for_log(
        &["TLS certificate reloaded", "SIGHUP"],
        Duration::from_secs(5),
    );
    assert_eq!(
        healthz(&trusting(&cert_b), server.port)
            .await
            .expect("new certificate"),
        200
    );
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}

/// Variables for one run of the binary.
type Env<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn a_certificate_that_cannot_be_used_stops_the_start_with_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert_a, key_a) = self_signed(5);
    let (_, key_b) = self_signed(6);
    let file = |name: &str, contents: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, contents).expect("write");
        p.display().to_string()
    };
    let (cert, key, other_key) = (
        file("c.pem", &cert_a),
        file("k.pem", &key_a),
        file("o.pem", &key_b),
    );
    let garbage = file("g.pem", b"-----BEGIN NONSENSE-----\n\0\x1b[31m\n");
    let (db, _db_dir) = crate::helpers::fresh_database(Backend::Sqlite).await;
    let cases: [(Env<'_>, i32, &str); 5] = [
        (
            &[("PORTCULLIS_TLS__CERT_FILE", &cert)],
            2,
            "invalid setting `tls.key_file`",
        ),
        (
            &[
                ("PORTCULLIS_TLS__CERT_FILE", "/no/such.pem"),
                ("PORTCULLIS_TLS__KEY_FILE", &key),
            ],
            1,
            "cannot read tls.cert_file /no/such.pem",
        ),
        (
            &[
                ("PORTCULLIS_TLS__CERT_FILE", &garbage),
                ("PORTCULLIS_TLS__KEY_FILE", &key),
            ],
            1,
            "holds no PEM certificate",
        ),
        (
            &[
                ("PORTCULLIS_TLS__CERT_FILE", &cert),
                ("PORTCULLIS_TLS__KEY_FILE", &garbage),
            ],
            1,
            "holds no PEM private key",
        ),
        (
            &[
                ("PORTCULLIS_TLS__CERT_FILE", &cert),
                ("PORTCULLIS_TLS__KEY_FILE", &other_key),
            ],
            1,
            "cannot use tls.key_file",
        ),
    ];
    for (env, code, expected) in cases {
        let port = crate::deploy::free_port();
        let out = std::process::Command::new(BIN)
            .arg("serve")
            .env("PORTCULLIS_DATABASE_URL", &db)
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "error")
            .envs(env.iter().copied())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{env:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line for {env:?}: {err}");
        assert!(err.contains(expected), "{env:?}: {err}");
    }
}
