//! The gRPC face of [`P4SimNetwork`]: the `p4.v1.P4Runtime` service on one address for every
//! device (the request's `device_id` selects), and the task that advances background traffic.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::proto::p4::v1::p4_runtime_server::{
    P4Runtime, P4RuntimeServer,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use super::arbitration::StreamId;
use super::error::EntityError;
use super::network::{write_error_status, P4SimNetwork, StreamSender};

/// The P4Runtime API version this emulator implements.
pub const P4RUNTIME_API_VERSION: &str = "1.4.0";
/// Messages queued per client stream before packet-ins are dropped.
const STREAM_QUEUE: usize = 4096;
/// Entities per ReadResponse message.
const READ_CHUNK: usize = 1000;
/// Largest gRPC message accepted or sent (batched writes of thousands of entries).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the listen address failed.
    #[error("binding P4Runtime listener on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("P4Runtime server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The `p4.v1.P4Runtime` service over a shared network.
#[derive(Clone)]
pub struct P4RuntimeService {
    network: Arc<P4SimNetwork>,
    next_stream: Arc<AtomicU64>,
}

impl P4RuntimeService {
    /// A service for `network`.
    pub fn new(network: Arc<P4SimNetwork>) -> Self {
        Self {
            network,
            next_stream: Arc::new(AtomicU64::new(1)),
        }
    }
}

fn stream_error(
    e: &EntityError,
    details: Option<p4::stream_error::Details>,
) -> p4::StreamMessageResponse {
    p4::StreamMessageResponse {
        update: Some(p4::stream_message_response::Update::Error(
            p4::StreamError {
                canonical_code: e.code as i32,
                message: e.message.clone(),
                details,
                ..Default::default()
            },
        )),
    }
}

async fn run_stream(
    network: Arc<P4SimNetwork>,
    id: StreamId,
    mut inbound: Streaming<p4::StreamMessageRequest>,
    tx: StreamSender,
) {
    use p4::stream_message_request::Update as U;
    let mut device: Option<u64> = None;
    loop {
        let msg = tokio::select! {
            m = inbound.message() => m,
            () = tx.closed() => break,
        };
        let Ok(Some(msg)) = msg else { break };
        if let Some(d) = device {
            if !network.stream_alive(d, id) {
                break; // The device restarted and dropped this stream.
            }
        }
        match msg.update {
            Some(U::Arbitration(a)) => {
                if device.is_some_and(|d| d != a.device_id) {
                    let _ = tx
                        .send(Err(Status::failed_precondition(
                            "a stream serves one device id",
                        )))
                        .await;
                    break;
                }
                if device.is_none() {
                    if let Err(e) = network.open_stream(a.device_id, id, tx.clone()) {
                        let _ = tx.send(Err(e.to_status())).await;
                        break;
                    }
                    device = Some(a.device_id);
                }
                if let Err(e) = network.arbitrate(id, &a) {
                    let _ = tx.send(Err(e.to_status())).await;
                    break;
                }
            }
            Some(U::Packet(p)) => {
                let result = match device {
                    Some(d) => network.packet_out(d, id, &p),
                    None => Err(EntityError::precondition(
                        "arbitrate before sending packets",
                    )),
                };
                if let Err(e) = result {
                    let details = p4::stream_error::Details::PacketOut(p4::PacketOutError {
                        packet_out: Some(p),
                    });
                    let _ = tx.try_send(Ok(stream_error(&e, Some(details))));
                }
            }
            Some(U::DigestAck(ack)) => {
                let result = match device {
                    Some(d) => network.digest_ack(d, &ack),
                    None => Err(EntityError::precondition(
                        "arbitrate before acknowledging digests",
                    )),
                };
                if let Err(e) = result {
                    let details =
                        p4::stream_error::Details::DigestListAck(p4::DigestListAckError {
                            digest_list_ack: Some(ack),
                        });
                    let _ = tx.try_send(Ok(stream_error(&e, Some(details))));
                }
            }
            Some(U::Other(_)) | None => {
                let e = EntityError::unimplemented("stream message kind not supported");
                let _ = tx.try_send(Ok(stream_error(&e, None)));
            }
        }
    }
    if let Some(d) = device {
        network.close_stream(d, id);
    }
}

#[tonic::async_trait]
impl P4Runtime for P4RuntimeService {
    async fn write(
        &self,
        request: Request<p4::WriteRequest>,
    ) -> Result<Response<p4::WriteResponse>, Status> {
        match self.network.write(request.get_ref()) {
            Err(e) => Err(e.to_status()),
            Ok(Ok(())) => Ok(Response::new(p4::WriteResponse {})),
            Ok(Err(errors)) => Err(write_error_status(&errors)),
        }
    }

    type ReadStream = ReceiverStream<Result<p4::ReadResponse, Status>>;

    async fn read(
        &self,
        request: Request<p4::ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let entities = self
            .network
            .read(request.get_ref())
            .map_err(|e| e.to_status())?;
        let chunks: Vec<p4::ReadResponse> = if entities.is_empty() {
            vec![p4::ReadResponse { entities: vec![] }]
        } else {
            entities
                .chunks(READ_CHUNK)
                .map(|c| p4::ReadResponse {
                    entities: c.to_vec(),
                })
                .collect()
        };
        let (tx, rx) = mpsc::channel(chunks.len().max(1));
        for c in chunks {
            // Capacity equals the number of chunks: never blocks, never fails while rx lives.
            let _ = tx.try_send(Ok(c));
        }
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn set_forwarding_pipeline_config(
        &self,
        request: Request<p4::SetForwardingPipelineConfigRequest>,
    ) -> Result<Response<p4::SetForwardingPipelineConfigResponse>, Status> {
        self.network
            .set_pipeline(request.get_ref())
            .map_err(|e| e.to_status())?;
        Ok(Response::new(p4::SetForwardingPipelineConfigResponse {}))
    }

    async fn get_forwarding_pipeline_config(
        &self,
        request: Request<p4::GetForwardingPipelineConfigRequest>,
    ) -> Result<Response<p4::GetForwardingPipelineConfigResponse>, Status> {
        let config = self
            .network
            .get_pipeline(request.get_ref())
            .map_err(|e| e.to_status())?;
        Ok(Response::new(p4::GetForwardingPipelineConfigResponse {
            config: Some(config),
        }))
    }

    type StreamChannelStream = ReceiverStream<Result<p4::StreamMessageResponse, Status>>;

    async fn stream_channel(
        &self,
        request: Request<Streaming<p4::StreamMessageRequest>>,
    ) -> Result<Response<Self::StreamChannelStream>, Status> {
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(run_stream(
            Arc::clone(&self.network),
            id,
            request.into_inner(),
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn capabilities(
        &self,
        _request: Request<p4::CapabilitiesRequest>,
    ) -> Result<Response<p4::CapabilitiesResponse>, Status> {
        Ok(Response::new(p4::CapabilitiesResponse {
            p4runtime_api_version: P4RUNTIME_API_VERSION.to_owned(),
        }))
    }
}

/// Serves every device of `network` on `listener` until `shutdown` is cancelled.
pub async fn serve_listener(
    listener: TcpListener,
    network: Arc<P4SimNetwork>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    serve_on(listener, network, shutdown, None).await
}

/// [`serve_listener`] over TLS: tonic's server TLS (our certificate and key; with a client CA,
/// clients must present a certificate it signed). A client failing the handshake loses its
/// connection only.
pub async fn serve_listener_tls(
    listener: TcpListener,
    network: Arc<P4SimNetwork>,
    shutdown: CancellationToken,
    tls: tonic::transport::ServerTlsConfig,
) -> Result<(), ServeError> {
    serve_on(listener, network, shutdown, Some(tls)).await
}

async fn serve_on(
    listener: TcpListener,
    network: Arc<P4SimNetwork>,
    shutdown: CancellationToken,
    tls: Option<tonic::transport::ServerTlsConfig>,
) -> Result<(), ServeError> {
    let service = P4RuntimeServer::new(P4RuntimeService::new(network))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// Binds `addr` and serves every device of `network` until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    network: Arc<P4SimNetwork>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    serve_listener(listener, network, shutdown).await
}

/// Advances background traffic every `tick` of wall time by `tick * time_scale` of model time,
/// until `shutdown` is cancelled. Counters move at the model's rates per wall-clock second: the
/// compression speeds up the cycles, not the rates a controller measures.
pub async fn run_traffic(
    network: Arc<P4SimNetwork>,
    tick: Duration,
    time_scale: f64,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let step = tick.as_secs_f64() * time_scale;
    let volume = if time_scale.is_finite() && time_scale > 0.0 {
        1.0 / time_scale
    } else {
        0.0
    };
    let mut t = 0.0;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = interval.tick() => {
                network.advance_traffic_scaled(t, t + step, volume);
                t += step;
            }
        }
    }
}
