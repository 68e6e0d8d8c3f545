//! HTTP webhooks: one POST per attempt with `Content-Type: application/json` and the call's
//! `Idempotency-Key`, over hyper's pooled HTTP/1.1 client (already in the tree through axum and
//! tonic). Plain `http://` only: orchestrators in the lab listen on the management network.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Attempt;

/// The shared client.
pub type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// Most bytes of a refusal's body quoted in the record.
const QUOTE: usize = 200;

/// A client with a connection pool; connect attempts are bounded by the call's timeout.
pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector)
}

/// One POST of `body` to `url`.
pub async fn post(
    client: &Client,
    url: &Uri,
    key: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Attempt {
    let req = Request::builder()
        .method(Method::POST)
        .uri(url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, "prescient-hooks/1")
        .header("Idempotency-Key", key)
        .body(Full::new(Bytes::from(body)));
    let req = match req {
        Ok(r) => r,
        Err(e) => return Attempt::Refused(0, format!("request to {url} not built: {e}")),
    };
    let exchange = async {
        let resp = client.request(req).await?;
        let status = resp.status();
        // The body is read so the connection goes back to the pool.
        let body = resp.into_body().collect().await.map(|b| b.to_bytes());
        Ok::<_, hyper_util::client::legacy::Error>((status, body.unwrap_or_default()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Attempt::Failed(None, format!("{url}: no answer within {timeout:?}")),
        Ok(Err(e)) => Attempt::Failed(None, format!("{url}: {}", describe(&e))),
        Ok(Ok((status, body))) => classify(status, &body),
    }
}

/// 2xx done; 408, 429 and 5xx worth retrying; other statuses refused for good.
fn classify(status: StatusCode, body: &[u8]) -> Attempt {
    let code = i32::from(status.as_u16());
    if status.is_success() {
        return Attempt::Done(code);
    }
    let text = String::from_utf8_lossy(body.get(..QUOTE.min(body.len())).unwrap_or_default())
        .trim()
        .to_string();
    let msg = format!("HTTP {status}: {text}");
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Attempt::Failed(Some(code), msg)
    } else {
        Attempt::Refused(code, msg)
    }
}

/// The innermost cause: "connection refused" says more than "client error (Connect)".
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        msg = format!("{msg}: {s}");
        cur = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_retried_refused_or_done() {
        assert_eq!(classify(StatusCode::ACCEPTED, b""), Attempt::Done(202));
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, b"busy"),
            Attempt::Failed(Some(503), m) if m.contains("busy")
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, b""),
            Attempt::Failed(Some(429), _)
        ));
        assert!(matches!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, b"bad"),
            Attempt::Refused(422, _)
        ));
    }
}
