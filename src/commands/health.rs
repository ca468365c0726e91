//! `portcullis health`: asks a running server's `/healthz`, for a container's
//! `HEALTHCHECK` in an image that has no curl.
//!
//! Over https it checks the answer, not the certificate: the probe runs beside the
//! server (127.0.0.1, where the certificate's name never fits) and sends nothing secret.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{
    TlsConnector,
    rustls::{
        self, ClientConfig, DigitallySignedStruct, SignatureScheme,
        client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        crypto::{CryptoProvider, ring},
        pki_types::{CertificateDer, ServerName, UnixTime},
    },
};

use super::CommandError;
use crate::config::Config;

/// A probe that takes longer than this is a failed one.
const TIMEOUT: Duration = Duration::from_secs(3);

/// `portcullis health`: exit 0 when `/healthz` answers 200 at the server these
/// settings describe (its `bind`, over https when `[tls]` is set).
pub async fn health(config: &Config) -> Result<(), CommandError> {
    let addr = probe_addr(config.bind);
    let https = config.tls.files().is_some();
    match tokio::time::timeout(TIMEOUT, probe(addr, https)).await {
        Ok(Ok(200)) => {
            println!("healthy");
            Ok(())
        }
        Ok(Ok(status)) => Err(unhealthy(format!("/healthz answered {status}"))),
        Ok(Err(e)) => Err(unhealthy(format!("cannot reach {addr}: {e}"))),
        Err(_) => Err(unhealthy(format!(
            "no answer from {addr} within {TIMEOUT:?}"
        ))),
    }
}

fn unhealthy(reason: String) -> CommandError {
    CommandError::Unhealthy(reason)
}

/// Where to knock: a server bound to every address is reached on loopback.
fn probe_addr(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

async fn probe(addr: SocketAddr, https: bool) -> std::io::Result<u16> {
    let tcp = TcpStream::connect(addr).await?;
    if !https {
        return get(tcp, addr).await;
    }
    let connector = TlsConnector::from(Arc::new(client_config()?));
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = connector.connect(name, tcp).await?;
    get(tls, addr).await
}

/// One `GET /healthz` and the status code of its answer.
async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    addr: SocketAddr,
) -> std::io::Result<u16> {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await?;
    let mut head = [0; 64];
    let mut filled = 0;
    while filled < 12 {
        match s.read(&mut head[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    // "HTTP/1.1 200 OK"
    std::str::from_utf8(&head[..filled])
        .ok()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("the answer was not HTTP"))
}

fn client_config() -> std::io::Result<ClientConfig> {
    let provider = Arc::new(ring::default_provider());
    let verifier = Arc::new(AnyCertificate(provider.clone()));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts whatever certificate the local server shows, checking only that the
/// handshake's signatures are sound.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
