//! What one connected switch costs in memory, checked so that it cannot grow back unnoticed:
//! at 10,000 switches every byte of a session's task or command slot is 10 KB of controller.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::app::PublishAll;
use super::shared::{Ctx, Registry, SessionCmd};
use super::{driver, ControllerConfig};

fn size_of_future<F: std::future::Future>(_: &F) -> usize {
    std::mem::size_of::<F>()
}

#[tokio::test]
async fn a_session_task_and_its_command_slots_stay_small() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stream, _) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let stream = stream.unwrap();
    let config = ControllerConfig::new(addr);
    let (events, _events_rx) = mpsc::channel(1);
    let (discovery, _discovery_rx) = mpsc::channel(1);
    let ctx = Arc::new(Ctx {
        stats: config.counters.clone(),
        config,
        factory: Arc::new(|_| Box::new(PublishAll) as Box<dyn super::SwitchApp>),
        events,
        discovery,
        cancel: CancellationToken::new(),
        serial: AtomicU64::new(1),
        registry: Mutex::new(Registry::default()),
    });
    let permit = Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap();
    let session = driver::accept(stream, addr, ctx, permit);
    // 6,112 B (debug) before the TLS handshake, the TLS session and the connect and close
    // paths were boxed.
    let task = size_of_future(&session);
    assert!(task <= 2048, "a plain session's task is {task} B");
    // 88 B with a FLOW_MOD inline (blocks of 32 slots: 2.8 KB each).
    let slot = std::mem::size_of::<SessionCmd>();
    assert!(slot <= 16, "a command slot is {slot} B");
}
