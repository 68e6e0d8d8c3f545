//! The store on its own: round trips, reopening, schema refusal, corrupted and foreign files.

use std::path::PathBuf;

use prescient_topology::{
    DeviceId, FlowMatch, LinkKey, MacAddr, PortNo, PortRef, Reservation, ReservationId,
    ReservationRequest, Subject, Timestamp, Window,
};

use super::*;
use crate::core::calendar::{Effect, EventScope};

/// A directory of its own under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "prescient-store-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn link(a: u64, pa: u32, b: u64, pb: u32) -> LinkKey {
    LinkKey::new(
        PortRef::new(DeviceId::openflow(a), PortNo(pa)),
        PortRef::new(DeviceId::openflow(b), PortNo(pb)),
    )
}

fn host_pair(id: u64) -> StoredReservation {
    let r = Reservation {
        id: ReservationId(id),
        request: ReservationRequest {
            subject: Subject::HostPair {
                src: MacAddr([0, 0, 0, 0, 0, 1]),
                dst: MacAddr([0, 0, 0, 0, 0, 2]),
            },
            src: DeviceId::openflow(1),
            dst: DeviceId::openflow(3),
            rate_bps: 250_000_000,
            tier: 3,
            window: Window::new(Timestamp(5), Timestamp(u64::MAX)),
            path: vec![link(1, 1, 2, 1), link(2, 2, 3, 1)],
        },
    };
    StoredReservation::new(&r, None)
}

fn one_switch_flow(id: u64) -> StoredReservation {
    let r = Reservation {
        id: ReservationId(id),
        request: ReservationRequest {
            subject: Subject::Flow(FlowMatch {
                dst_mac: Some(MacAddr([0, 0, 0, 0, 0, 2])),
                dst_ip: Some(std::net::Ipv4Addr::new(10, 0, 0, 2)),
                ip_proto: Some(6),
                dst_port: Some(443),
                ..FlowMatch::default()
            }),
            src: DeviceId::p4runtime(7),
            dst: DeviceId::p4runtime(7),
            rate_bps: 1,
            tier: 0,
            window: Window::new(Timestamp(1), Timestamp(2)),
            path: Vec::new(),
        },
    };
    StoredReservation::new(&r, Some(PortRef::new(DeviceId::p4runtime(7), PortNo(4))))
}

#[test]
fn a_flow_stored_before_its_hosts_macs_were_kept_still_loads() {
    // Written before session 26: a flow subject without `src_mac`/`dst_mac`.
    let old = r#"{"id":4,"subject":{"kind":"flow","src_ip":"10.0.0.1","dst_ip":null,"ip_proto":6,"src_port":null,"dst_port":null},"src":"of:0000000000000001","dst":"of:0000000000000003","rate_bps":1,"tier":0,"start_ns":1,"end_ns":2,"path":[]}"#;
    let r: StoredReservation = serde_json::from_str(old).expect("an older record parses");
    let back = r.restored().expect("decodes");
    assert_eq!(
        back.reservation.request.subject,
        Subject::Flow(FlowMatch {
            src_ip: Some(std::net::Ipv4Addr::new(10, 0, 0, 1)),
            ip_proto: Some(6),
            ..FlowMatch::default()
        })
    );
    // And it is written as it was read: no fields an older controller would refuse.
    assert_eq!(serde_json::to_string(&r).expect("encodes"), old);
}

#[test]
fn reservations_round_trip_exactly() {
    let store = Store::in_memory().expect("in memory");
    let (a, b) = (host_pair(3), one_switch_flow(9));
    // Failed (its host moved where no path had room): it must come back failed.
    let f = StoredReservation {
        failed: true,
        ..host_pair(5)
    };
    store
        .apply(&[
            StoreChange::Put(a.clone()),
            StoreChange::Put(b.clone()),
            StoreChange::Put(f.clone()),
        ])
        .expect("commit");
    assert_eq!(
        store.load().expect("load"),
        vec![a.clone(), f.clone(), b.clone()]
    );
    for s in [&a, &b, &f] {
        let back = s.restored().expect("decodes");
        assert_eq!(back.failed, s.failed);
        assert_eq!(&StoredReservation::saved(&back), s);
    }
    store
        .apply(&[StoreChange::Delete(3), StoreChange::Delete(5)])
        .expect("delete");
    assert_eq!(store.load().expect("load"), vec![b]);
}

#[test]
fn a_file_store_keeps_its_reservations_after_reopening() {
    let dir = TempDir::new("reopen");
    let path = dir.file("state.redb");
    {
        let store = Store::open_file(&path).expect("created");
        store
            .apply(&[
                StoreChange::Put(host_pair(1)),
                StoreChange::Put(host_pair(2)),
            ])
            .expect("commit");
        store.apply(&[StoreChange::Delete(1)]).expect("delete");
    }
    let store = Store::open_file(&path).expect("reopened");
    assert_eq!(store.load().expect("load"), vec![host_pair(2)]);
}

#[test]
fn a_newer_schema_is_refused_with_the_path() {
    let dir = TempDir::new("schema");
    let path = dir.file("state.redb");
    {
        let store = Store::open_file(&path).expect("created");
        store.write_version(SCHEMA_VERSION + 1).expect("stamped");
    }
    let err = Store::open_file(&path).expect_err("newer schema");
    assert!(
        matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
}

#[test]
fn a_corrupted_or_foreign_file_is_an_error_naming_the_path() {
    let dir = TempDir::new("corrupt");
    let text_file = dir.file("notes.txt");
    std::fs::write(
        &text_file,
        "these are not the reservations you are looking for\n".repeat(200),
    )
    .expect("written");
    let err = Store::open_file(&text_file).expect_err("not a database");
    assert!(
        err.to_string().contains(&text_file.display().to_string()),
        "{err}"
    );

    // A real store whose pages were overwritten after the header.
    let damaged = dir.file("damaged.redb");
    {
        let store = Store::open_file(&damaged).expect("created");
        store
            .apply(&[StoreChange::Put(host_pair(1))])
            .expect("commit");
    }
    let mut bytes = std::fs::read(&damaged).expect("read");
    for b in bytes.iter_mut().skip(64) {
        *b = 0xA5;
    }
    std::fs::write(&damaged, &bytes).expect("damaged");
    match Store::open_file(&damaged).and_then(|s| s.load()) {
        Ok(rows) => panic!("a damaged store loaded {rows:?}"),
        Err(e) => assert!(
            e.to_string().contains(&damaged.display().to_string()),
            "{e}"
        ),
    }

    let missing_dir = dir.file("no/such/dir/state.redb");
    let err = Store::open_file(&missing_dir).expect_err("no directory");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn a_redb_file_of_someone_else_is_foreign() {
    let dir = TempDir::new("foreign");
    let path = dir.file("other.redb");
    {
        let db = Database::create(&path).expect("created");
        let tx = db.begin_write().expect("tx");
        {
            let other: TableDefinition<&str, &str> = TableDefinition::new("settings");
            tx.open_table(other)
                .expect("table")
                .insert("colour", "blue")
                .expect("insert");
        }
        tx.commit().expect("commit");
    }
    let err = Store::open_file(&path).expect_err("foreign");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
}

#[test]
fn a_record_that_does_not_decode_names_its_id() {
    let store = Store::in_memory().expect("in memory");
    let tx = store.db.begin_write().expect("tx");
    tx.open_table(RESERVATIONS)
        .expect("table")
        .insert(12, "{\"id\":12}")
        .expect("insert");
    tx.commit().expect("commit");
    let err = store.load().expect_err("bad record");
    assert!(matches!(err, StoreError::Record { id: 12, .. }), "{err}");

    let mut bad = host_pair(4);
    bad.path.push("of:1:2".to_string());
    assert!(bad.restored().expect_err("bad link").contains("path[2]"));
}

fn service(name: &str) -> StoredService {
    StoredService {
        name: name.into(),
        origin: StoredOrigin::Api,
        id: 7,
        tenant: "red".into(),
        vip: std::net::Ipv4Addr::new(192, 0, 2, 10),
        vip_mac: Some("02:50:c0:00:02:0a".into()),
        pool: "10.1.0.0/24".into(),
        tier: 2,
        instance_capacity_bps: 100_000_000,
        min_instances: 1,
        max_instances: 4,
        policy: None,
        backends: vec![StoredBackend {
            ip: std::net::Ipv4Addr::new(10, 1, 0, 1),
            mac: "00:00:00:00:01:01".into(),
            weight: 3,
        }],
        leases: vec![
            StoredLease {
                ip: std::net::Ipv4Addr::new(10, 1, 0, 1),
                kind: crate::services::LeaseKind::PreAssigned,
                tier: 2,
                since_ns: 42,
                instance_key: Some("boot-7".into()),
                instance_host: Some("h1".into()),
            },
            StoredLease {
                ip: std::net::Ipv4Addr::new(10, 1, 0, 2),
                kind: crate::services::LeaseKind::Shadow,
                tier: 2,
                since_ns: 43,
                instance_key: None,
                instance_host: None,
            },
        ],
    }
}

#[test]
fn services_round_trip_exactly_and_are_deleted_by_name() {
    let dir = TempDir::new("services");
    let path = dir.file("s.redb");
    {
        let store = Store::open_file(&path).expect("open");
        store
            .apply(&[
                StoreChange::PutService(service("web")),
                StoreChange::PutService(service("db")),
                StoreChange::Put(host_pair(1)),
            ])
            .expect("written");
        store
            .apply(&[StoreChange::DeleteService("db".into())])
            .expect("deleted");
    }
    let store = Store::open_file(&path).expect("reopened");
    assert_eq!(store.load_services().expect("read"), vec![service("web")]);
    assert_eq!(store.load().expect("read"), vec![host_pair(1)]);
    // And the record comes back as the registry had it.
    let record = service("web").restored().expect("decodes");
    assert_eq!(StoredService::new(&record), service("web"));
    assert_eq!(record.leases.len(), 2);
    assert!(record.leases.iter().all(|(_, l)| l.service == "web"));
}

#[test]
fn a_schema_1_store_opens_keeps_its_reservations_and_gains_services_and_the_calendar() {
    let dir = TempDir::new("v1");
    let path = dir.file("v1.redb");
    {
        // What a schema-1 controller wrote: meta and reservations only.
        let db = redb::Database::create(&path).expect("create");
        let tx = db.begin_write().expect("tx");
        {
            let mut meta = tx.open_table(META).expect("meta");
            meta.insert(VERSION_KEY, 1).expect("version");
            let mut table = tx.open_table(RESERVATIONS).expect("reservations");
            let json = serde_json::to_string(&host_pair(4)).expect("json");
            table.insert(4, json.as_str()).expect("row");
        }
        tx.commit().expect("commit");
    }
    let store = Store::open_file(&path).expect("a schema-1 file opens");
    assert_eq!(store.load().expect("read"), vec![host_pair(4)]);
    assert!(store.load_services().expect("read").is_empty());
    assert!(store.load_events().expect("read").is_empty());
    store
        .apply(&[
            StoreChange::PutService(service("web")),
            StoreChange::PutEvent(event(1)),
        ])
        .expect("services and events written");
    drop(store);
    let db = redb::Database::open(&path).expect("raw");
    let read = db.begin_read().expect("read");
    let version = read
        .open_table(META)
        .expect("meta")
        .get(VERSION_KEY)
        .expect("get")
        .map(|v| v.value());
    assert_eq!(version, Some(SCHEMA_VERSION));
    assert_eq!(SCHEMA_VERSION, 3);
}

fn event(id: u64) -> CalendarEvent {
    CalendarEvent {
        id,
        name: format!("sale-{id}"),
        start_secs: 1_000,
        end_secs: 2_000,
        every_secs: Some(86_400),
        until_secs: Some(1_000 + 30 * 86_400),
        scope: EventScope::Pair {
            src: "00:00:00:00:00:01".into(),
            dst: "00:00:00:00:00:02".into(),
        },
        effect: Effect::Multiplier(3.0),
    }
}

#[test]
fn calendar_events_round_trip_exactly_and_are_deleted_by_id() {
    let dir = TempDir::new("calendar");
    let path = dir.file("c.redb");
    {
        let store = Store::open_file(&path).expect("open");
        store
            .apply(&[
                StoreChange::PutEvent(event(1)),
                StoreChange::PutEvent(event(2)),
            ])
            .expect("written");
        store
            .apply(&[StoreChange::DeleteEvent(1)])
            .expect("deleted");
    }
    let store = Store::open_file(&path).expect("reopened");
    assert_eq!(store.load_events().expect("read"), vec![event(2)]);
}

#[test]
fn a_calendar_event_that_does_not_hold_names_its_id_and_field() {
    let dir = TempDir::new("badevent");
    let path = dir.file("e.redb");
    let mut bad = event(7);
    bad.end_secs = bad.start_secs;
    Store::open_file(&path)
        .expect("open")
        .apply(&[StoreChange::PutEvent(bad)])
        .expect("written");
    let err = Store::open_file(&path)
        .expect("open")
        .load_events()
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("calendar event 7") && text.contains("end_secs"),
        "{text}"
    );
}

#[test]
fn a_service_record_that_does_not_decode_names_the_service_and_field() {
    let dir = TempDir::new("badsvc");
    let path = dir.file("b.redb");
    {
        let store = Store::open_file(&path).expect("open");
        let mut bad = service("web");
        bad.backends[0].mac = "not-a-mac".into();
        store
            .apply(&[StoreChange::PutService(bad)])
            .expect("written");
    }
    let store = Store::open_file(&path).expect("open");
    let loaded = store.load_services().expect("json decodes");
    let why = loaded[0].restored().expect_err("mac refused");
    assert!(
        why.contains("backends[0].mac") && why.contains("not-a-mac"),
        "{why}"
    );
}
