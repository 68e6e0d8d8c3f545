//! A loopback TCP port bridged to a Unix socket: BMv2 serves P4Runtime (and its dataplane
//! interface) on Unix sockets inside its network namespace, clients in the root namespace dial
//! TCP. Used by `prescient demo --bmv2` and the BMv2 test lab.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A fresh loopback TCP port bridged to a Unix socket, one Unix connection per TCP connection;
/// dropping it stops accepting (connections already bridged run until either side closes).
#[derive(Debug)]
pub struct UnixBridge {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl UnixBridge {
    /// Listens on a free loopback port and bridges every connection to `socket`.
    pub async fn bind(socket: PathBuf) -> std::io::Result<UnixBridge> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let socket = socket.clone();
                tokio::spawn(async move {
                    if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                        // P4Runtime writes are small and latency-bound: no Nagle delay.
                        let _ = tcp.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                    }
                });
            }
        });
        Ok(UnixBridge { address, task })
    }

    /// The loopback address clients dial.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for UnixBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}
