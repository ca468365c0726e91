//! The server loop: background jobs, then axum over the listener until shutdown.

use tokio::net::TcpListener;

use crate::{AppState, app::StartError};

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    state.spawn_purger();
    let db = state.store.db.clone();
    let app = super::build_router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    db.close().await;
    Ok(())
}
