//! A client that hangs up while its write waits for the state store: the change is committed
//! and its actions still reach the driver's outlet.

use std::net::Ipv4Addr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request};
use prescient_topology::{DeviceId, MacAddr, PortNo, PortRef, Timestamp};
use tower::ServiceExt;

use crate::core::tests::port;
use crate::core::{Action, CoreConfig, SharedCore};
use crate::northbound::{router, ApiConfig, ApiState};
use crate::store::tests::TempDir;
use crate::store::{Persister, Store};

const TOKEN: &str = "detach-token";

/// One switch, h1 on its port 1 and h2 on its port 2, changes tracked for the store.
fn core() -> Arc<SharedCore> {
    let core = SharedCore::with_clock(CoreConfig::default(), Arc::new(|| Timestamp::from_secs(10)));
    let (t, s1) = (Timestamp::from_secs(10), DeviceId::openflow(1));
    core.apply(|c| {
        c.device_up(t, s1, vec![port(1), port(2)]);
        for (host, at) in [(1u8, 1u32), (2, 2)] {
            let mac = MacAddr([0, 0, 0, 0, 0, host]);
            let ip = Some(Ipv4Addr::new(10, 0, 0, host));
            c.host_seen(t, mac, ip, PortRef::new(s1, PortNo(at)))
                .expect("host");
        }
        // As a service with a state store starts it.
        c.track_changes();
    });
    core
}

fn reserve() -> Request<Body> {
    let body = r#"{"src": "00:00:00:00:00:01", "dst": "00:00:00:00:00:02",
                   "rate_bps": 10000000, "duration_secs": 600}"#;
    Request::builder()
        .method(Method::POST)
        .uri("/api/v1/reservations")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from(body))
        .expect("request")
}

/// Waits (at most 10 s) for `done`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_whose_client_hung_up_is_committed_and_metered() {
    let dir = TempDir::new("detach");
    let path = dir.file("state.redb");
    let core = core();
    let store = Persister::new(Store::open_file(&path).expect("store")).expect("persister");
    let state = ApiState::new(
        Arc::clone(&core),
        ApiConfig {
            token: Some(TOKEN.into()),
            protect_reads: false,
        },
    )
    .with_store(Arc::clone(&store));

    // The core's lock is held while the call comes, so its handler stops at the admission;
    // the client hangs up there (the request's task is aborted, as hyper drops it when the
    // connection closes). Let go, the admission goes on, and without `detach` the handler's
    // future was dropped at its next await, the store's commit, before dispatching.
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = {
        let core = Arc::clone(&core);
        std::thread::spawn(move || {
            core.read(|_| {
                held_tx.send(()).expect("held");
                release_rx.recv().expect("release");
            })
        })
    };
    held_rx.recv().expect("the lock is held");
    let call = tokio::spawn(router(state).oneshot(reserve()));
    {
        let core = Arc::clone(&core);
        tokio::task::spawn_blocking(move || {
            eventually("the call waits for the core's lock", || core.waiters() > 0)
        })
        .await
        .expect("waited");
    }
    call.abort();
    release_tx.send(()).expect("let go");
    holder.join().expect("holder");
    assert!(
        call.await.is_err_and(|e| e.is_cancelled()),
        "the client hung up"
    );

    let meters = {
        let core = Arc::clone(&core);
        tokio::task::spawn_blocking(move || {
            let mut actions = Vec::new();
            eventually("the reservation's actions reach the outlet", || {
                actions.extend(core.take_actions());
                actions
                    .iter()
                    .any(|a| matches!(a, Action::InstallMeter { .. }))
            });
            actions
        })
        .await
        .expect("outlet")
    };
    assert!(!meters.is_empty());
    let listed = core.read(|c| c.ledger().reservations().count());
    assert_eq!(listed, 1, "admitted in the core");
    let stored = store.load().expect("the store reads");
    assert_eq!(stored.len(), 1, "committed to the store");
}
