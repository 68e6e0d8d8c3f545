//! The REST API over TLS (rustls, ring provider; certificate and key from `[http] tls_cert` and
//! `tls_key`, loaded by [`crate::tls`]). Plain HTTP stays the default on loopback;
//! [`crate::service::Service::start`] refuses it on any other address unless `[http]
//! allow_plaintext` says so.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio_util::sync::CancellationToken;

use super::{router, ApiState};
use crate::tls::{Reloadable, TlsError, TlsFiles};

/// The API's TLS configuration from `files` (TLS 1.2 and 1.3, HTTP/1.1), and the handle that
/// re-reads them.
pub fn load(files: &TlsFiles) -> Result<(RustlsConfig, Reloadable), TlsError> {
    let (reload, config) = Reloadable::load(files, None, &[b"http/1.1"])?;
    Ok((RustlsConfig::from_config(Arc::new(config)), reload))
}

/// Serves the API over TLS on an already-bound listener until `shutdown` is cancelled (then
/// lets requests in flight finish, for at most five seconds). A client that fails the
/// handshake loses its connection only.
pub async fn serve_tls_on(
    listener: tokio::net::TcpListener,
    mut state: ApiState,
    shutdown: CancellationToken,
    tls: RustlsConfig,
) -> std::io::Result<()> {
    state.shutdown = shutdown.clone();
    let handle = axum_server::Handle::<SocketAddr>::new();
    let stop = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stop.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    axum_server::Server::<SocketAddr>::from_listener(listener)
        .acceptor(RustlsAcceptor::new(tls))
        .handle(handle)
        .serve(router(state).into_make_service())
        .await
}
