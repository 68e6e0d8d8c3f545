//! One GET to a controller's REST API, `http://` or `https://` (rustls, trusting the CA given to
//! the agent), one connection per request: the agent holds the event stream open and lists
//! now and then, so there is nothing to pool.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;

/// Where a controller's API is and how to reach it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, `http://host:port` or `https://host:port`.
    pub base: String,
    /// Trust for `https://` (the CA that signed the controller's certificate).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Endpoint {
    /// `GET path` with an optional bearer `token`; the answer's head, its body still streaming.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Result<Response<Incoming>, String> {
        let uri: Uri = format!("{}{path}", self.base.trim_end_matches('/'))
            .parse()
            .map_err(|e| format!("{:?} is not a URL: {e}", self.base))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{:?}: give http:// or https://", self.base)),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("{:?} names no host", self.base))?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // A URL writes an IPv6 address in brackets; a socket address does not.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = tokio::net::TcpStream::connect((bare, port))
            .await
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(hyper::header::HOST, format!("{host}:{port}"));
        if let Some(t) = token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
        if !https {
            return send(TokioIo::new(tcp), req).await;
        }
        let tls = self.tls.clone().ok_or_else(|| {
            format!(
                "{}: https needs the CA of the controller's certificate (--ca)",
                self.base
            )
        })?;
        let name = rustls::pki_types::ServerName::try_from(bare.to_string())
            .map_err(|e| format!("{host}: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}:{port}: {e}"))?;
        send(TokioIo::new(stream), req).await
    }
}

async fn send<IO>(io: IO, req: Request<Empty<Bytes>>) -> Result<Response<Incoming>, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    // The connection ends with the response body (or when it breaks).
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}
