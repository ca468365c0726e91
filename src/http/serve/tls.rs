//! Serving https directly (`[tls]`): the rustls configuration, read from the two PEM
//! files at start, and read again on SIGHUP or when either file changes on disk.
//!
//! Each new connection takes the configuration current when it was accepted; a reload
//! swaps it for the next ones, so open connections are never dropped. A file that
//! cannot be used at start stops the start; at a reload it is logged and the old
//! certificate goes on being served, since serving nothing would be worse.

use std::{
    fs,
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::task::JoinHandle;
use tokio_rustls::{
    TlsAcceptor,
    rustls::{self, ServerConfig, crypto::ring},
};

use crate::config::TlsFiles;

/// How often the files' modification times are looked at.
const POLL_EVERY: Duration = Duration::from_secs(5);

/// A certificate or key that cannot be served; `Display` names the file and says why.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {setting} {path}: {reason}")]
    Read {
        setting: &'static str,
        path: String,
        reason: String,
    },
    #[error("tls.cert_file {0} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate(String),
    #[error("tls.key_file {0} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(String),
    #[error("cannot use tls.key_file {key} with tls.cert_file {cert}: {reason}")]
    Unusable {
        cert: String,
        key: String,
        reason: String,
    },
}

/// The current configuration, and what the files looked like when it was read.
pub(super) struct Tls {
    files: TlsFiles,
    config: ArcSwap<ServerConfig>,
    seen: Mutex<Option<Stamp>>,
}

/// Enough of a file's metadata to tell that it changed (a renewal rewrites it, or a
/// Kubernetes secret volume swaps the symlink it points through).
type Stamp = [(Option<SystemTime>, u64); 2];

impl Tls {
    /// Reads both files; an error here is a start error.
    pub(super) fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let seen = stamp(&files);
        let config = server_config(&files)?;
        Ok(Self {
            files,
            config: ArcSwap::from_pointee(config),
            seen: Mutex::new(seen),
        })
    }

    /// The acceptor for the next connection.
    pub(super) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }

    /// Reads the files again; on an error the old configuration stays.
    fn reload(&self, why: &'static str) {
        let now = stamp(&self.files);
        match server_config(&self.files) {
            Ok(config) => {
                self.config.store(Arc::new(config));
                tracing::info!(reason = why, "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, reason = why, "TLS certificate not reloaded: still serving the previous one");
            }
        }
        // Remembered either way: a bad file is reported once, not every poll.
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    fn changed(&self) -> bool {
        let now = stamp(&self.files);
        now.is_some() && *self.seen.lock().unwrap_or_else(PoisonError::into_inner) != now
    }

    /// Reloads on SIGHUP and when a file changes, until the handle is aborted.
    pub(super) fn spawn_reloader(self: &Arc<Self>) -> JoinHandle<()> {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut hangup = hangup();
            let mut poll = tokio::time::interval(POLL_EVERY);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            poll.tick().await;
            loop {
                tokio::select! {
                    () = next_hangup(&mut hangup) => tls.reload("SIGHUP"),
                    _ = poll.tick() => if tls.changed() {
                        tls.reload("the certificate or key file changed");
                    },
                }
            }
        })
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup() -> Hangup {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: the certificate is reloaded only when its files change");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(h: &mut Hangup) {
    match h {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending::<()>().await;
}

/// Reads and checks both files, as a start would: for a clear error before anything
/// else starts.
pub fn check(files: &TlsFiles) -> Result<(), TlsError> {
    server_config(files).map(drop)
}

fn stamp(files: &TlsFiles) -> Option<Stamp> {
    let one = |p: &Path| fs::metadata(p).ok().map(|m| (m.modified().ok(), m.len()));
    Some([one(&files.cert_file)?, one(&files.key_file)?])
}

/// TLS 1.2 and 1.3 over ring, HTTP/1.1 only (what the accept loop serves).
fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let cert_path = files.cert_file.display().to_string();
    let key_path = files.key_file.display().to_string();
    let read = |setting: &'static str, path: &Path| {
        fs::read(path).map_err(|e| TlsError::Read {
            setting,
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    };
    let cert_pem = read("tls.cert_file", &files.cert_file)?;
    let key_pem = read("tls.key_file", &files.key_file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate(cert_path.clone()))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_path));
    }
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey(key_path.clone()))?;
    let unusable = |e: rustls::Error| TlsError::Unusable {
        cert: cert_path.clone(),
        key: key_path.clone(),
        reason: e.to_string(),
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(unusable)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
