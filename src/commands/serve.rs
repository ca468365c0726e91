//! `portcullis serve`: the server, with a start-up banner for the person who ran it.

use super::CommandError;
use crate::{
    AppState,
    app::StartError,
    config::{Config, DatabaseUrl},
};

/// `portcullis serve`: migrates, serves until Ctrl-C or SIGTERM, then finishes the
/// requests in flight (for at most `http.shutdown_timeout`). SIGHUP reloads the TLS
/// certificate when `[tls]` is set.
pub async fn serve(config: Config) -> Result<(), CommandError> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.bind.to_string(),
            source,
        })?;
    if let Some(files) = config.tls.files() {
        crate::http::check_tls(&files).map_err(StartError::from)?;
    }
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let state = AppState::start(config).await?;
    let config = state.config.clone();
    let database = match &config.database_url {
        DatabaseUrl::Sqlite(url) => url.expose().to_owned(),
        DatabaseUrl::Postgres(_) => "PostgreSQL".to_owned(),
    };
    let scheme = if config.tls.files().is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "Portcullis is serving {} (listening on {} over {scheme}, database {database})",
        config.issuer,
        listener
            .local_addr()
            .map_or_else(|_| config.bind.to_string(), |a| a.to_string())
    );
    println!(
        "Discovery: {}/.well-known/openid-configuration",
        config.issuer
    );
    if state.accounts.registration_open() {
        println!(
            "People sign up at {}/register and manage their account at {}/account",
            config.issuer, config.issuer
        );
    }
    if config.smtp_url.is_none() {
        println!(
            "No SMTP server (PORTCULLIS_SMTP_URL): mail is written to {}/ as .eml files",
            config.mail.outbox_dir.display()
        );
    }
    // A hint, not a check: if counting fails, the hints show and serving goes on.
    let users = state.store.users.count().await.unwrap_or(0);
    let clients = state.store.clients.count().await.unwrap_or(0);
    if users == 0 {
        println!("No users yet. Add the first admin (the password is read from standard input):");
        println!(
            "  echo 'a long password' | portcullis user add --username admin --email admin@example.com --role admin --password-stdin"
        );
    }
    if clients == 0 {
        println!("No client apps yet. Register one:");
        println!(
            "  portcullis client add --name 'My app' --redirect-uri http://localhost:3000/callback"
        );
    }
    crate::serve(state, listener, shutdown_signal()).await?;
    println!("Portcullis stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
