//! The store on its own: round trips, reopening, schema refusal, corrupted and foreign files.

use std::path::PathBuf;

use prescient_topology::{
    DeviceId, FlowMatch, LinkKey, MacAddr, PortNo, PortRef, Reservation, ReservationId,
    ReservationRequest, Subject, Timestamp, Window,
};

use super::*;

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
fn reservations_round_trip_exactly() {
    let store = Store::in_memory().expect("in memory");
    let (a, b) = (host_pair(3), one_switch_flow(9));
    store
        .apply(&[StoreChange::Put(a.clone()), StoreChange::Put(b.clone())])
        .expect("commit");
    assert_eq!(store.load().expect("load"), vec![a.clone(), b.clone()]);
    for s in [&a, &b] {
        let back = s.restored().expect("decodes");
        assert_eq!(&StoredReservation::new(&back.reservation, back.egress), s);
    }
    store.apply(&[StoreChange::Delete(3)]).expect("delete");
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
