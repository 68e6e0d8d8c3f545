//! Write latency as the southbound measures it, against the emulated switches over loopback:
//! every P4Runtime Write RPC that the target answers, accepted or refused, is timed once into
//! the histogram the client was configured with; a write refused before any RPC is not.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use prescient_sim::p4rt::{serve_listener, P4SimNetwork};
use prescient_southbound::latency::LatencyHistogram;
use prescient_southbound::p4runtime::pipeconf::Intent;
use prescient_southbound::p4runtime::proto::p4::v1::update::Type::Insert;
use prescient_southbound::p4runtime::{load_p4info_file, ClientConfig, P4RuntimeClient};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn route(i: u32) -> Intent {
    Intent::ForwardToPort {
        dst: Ipv4Addr::from(0x0a00_0000 | (i << 8)),
        prefix_len: 24,
        port: 1,
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
    }
}

#[tokio::test]
async fn every_answered_p4runtime_write_is_timed_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let stop = CancellationToken::new();
    let network = Arc::new(P4SimNetwork::new(1).expect("network"));
    tokio::spawn(serve_listener(listener, network, stop.clone()));

    let latency = Arc::new(LatencyHistogram::new());
    let mut config = ClientConfig::new(&addr, 1, 10);
    config.write_latency = Arc::clone(&latency);
    let mut c = P4RuntimeClient::connect(config).await.expect("connect");
    c.wait_for_primary(Duration::from_secs(5))
        .await
        .expect("primary");
    let p4info = load_p4info_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../p4/prescient.p4info.txt"
    ))
    .expect("p4info");
    c.set_pipeline(p4info, b"bmv2-json".to_vec(), None, false)
        .await
        .expect("pipeline");
    assert_eq!(
        latency.snapshot().count,
        0,
        "a pipeline push is not a write"
    );

    let ix = c.index().expect("index").clone();
    let batch: Vec<_> = (0..100)
        .map(|i| route(i).update(&ix, Insert).expect("valid"))
        .collect();
    c.write(batch).await.expect("accepted");
    assert_eq!(
        latency.snapshot().count,
        1,
        "one batch, one RPC, one latency"
    );

    // The target refuses the duplicate: still an answered write, timed.
    let dup = vec![route(7).update(&ix, Insert).expect("valid")];
    c.write(dup).await.expect_err("already exists");
    // An empty batch never leaves the client.
    c.write(Vec::new()).await.expect("nothing to do");
    let s = latency.snapshot();
    assert_eq!(s.count, 2, "{s:?}");
    assert!(s.sum_secs > 0.0 && s.sum_secs < 10.0, "{s:?}");
    assert_eq!(s.buckets.last().map(|b| b.1), Some(2), "{s:?}");
    stop.cancel();
}
