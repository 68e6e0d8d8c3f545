//! `prescient agent --etcd` against a real etcd (started by the test on the namespace's link,
//! in a directory of its own): records written straight into etcd reach the interface of the
//! namespace the agent runs in; etcd gone, the agent names it, keeps what it programmed and
//! retries; needs root, like `agent_netns`.

mod agent_common;

use agent_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_mode_the_agent_follows_its_tenants_prefix_in_etcd() {
    if !root() {
        return;
    }
    let ns = Netns::new();
    let etcd = Etcd::start(ns.host_ip).await;
    let mut c = etcd_client::Client::connect([etcd.url.as_str()], None)
        .await
        .expect("client");
    let (a, b) = (
        record("red", "10.1.0.2", "h1"),
        record("red", "10.1.0.3", "h1"),
    );
    put(&mut c, &a).await;
    put(&mut c, &b).await;
    // Another tenant's record, and garbage under red's prefix: neither is programmed.
    put(&mut c, &record("blue", "10.2.0.2", "h1")).await;
    c.put("/prescient/v1/address/red/junk", "not json", None)
        .await
        .expect("put");
    let agent = ns.agent_of("--etcd", &etcd.url, "red", 165, &[]);
    until(
        "red's records from etcd on the interface",
        Some(&agent),
        || {
            let have = ns.addresses();
            have.contains(&"10.1.0.2/32".to_string()) && have.contains(&"10.1.0.3/32".to_string())
        },
    )
    .await;
    assert!(!ns.addresses().contains(&"10.2.0.2/32".to_string()));
    c.delete(a.etcd_key(), None).await.expect("delete");
    let d = record("red", "10.1.0.4", "h1");
    put(&mut c, &d).await;
    until(
        "a deletion and a put in etcd to reach the kernel",
        Some(&agent),
        || {
            let have = ns.addresses();
            !have.contains(&"10.1.0.2/32".to_string()) && have.contains(&"10.1.0.4/32".to_string())
        },
    )
    .await;

    // Away while a record goes and the history is compacted: the relist drops it anyway.
    agent.stop().await;
    c.delete(b.etcd_key(), None).await.expect("delete");
    let rev = c
        .get("/", None)
        .await
        .ok()
        .and_then(|r| r.header().map(|h| h.revision()))
        .expect("revision");
    c.compact(rev, None).await.expect("compact");
    let agent = ns.agent_of("--etcd", &etcd.url, "red", 165, &[]);
    until(
        "the restarted agent to drop what was deleted while away",
        Some(&agent),
        || {
            let have = ns.addresses();
            !have.contains(&"10.1.0.3/32".to_string()) && have.contains(&"10.1.0.4/32".to_string())
        },
    )
    .await;

    // etcd gone: named, retried with backoff; what is programmed stays.
    let url = etcd.url.clone();
    drop(etcd);
    until("the agent to name the etcd it lost", Some(&agent), || {
        let log = agent.log();
        log.contains(&format!("etcd {url}"))
            && log.contains("what is programmed stays; reconnecting")
    })
    .await;
    assert!(ns.addresses().contains(&"10.1.0.4/32".to_string()));
    agent.stop().await;
}
