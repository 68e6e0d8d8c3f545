//! The etcd key layout, all under [`ROOT`] (the README has the same table):
//!
//! | key | value |
//! |---|---|
//! | `/prescient/v1/reservations/<id>` | a reservation, JSON ([`crate::store::StoredReservation`]) |
//! | `/prescient/v1/services/<name>` | a service with its pool and leases, JSON ([`crate::store::StoredService`]) |
//! | `/prescient/v1/calendar/<id>` | a scheduled event, JSON ([`crate::core::calendar::CalendarEvent`]) |
//! | `/prescient/v1/calendar-next-id` | the id the next scheduled event gets (a number), so none is reused |
//! | `/prescient/v1/address/<tenant>/<logical>/<physical>` | an address record, JSON ([`crate::services::AddressRecord`]), published by the leader with the services it derives from |
//! | `/prescient/v1/election/<lease id, hex>` | a candidate ([`super::Member`]), on its lease; the lowest create revision leads, and that revision is the term |
//! | `/prescient/v1/members/<name>` | every node that ever joined ([`super::Member`]) |

/// Everything Prescient keeps in etcd.
pub const ROOT: &str = "/prescient/v1/";
/// Reservations, by id.
pub const RESERVATIONS: &str = "/prescient/v1/reservations/";
/// Services, by name.
pub const SERVICES: &str = "/prescient/v1/services/";
/// Scheduled events, by id.
pub const CALENDAR: &str = "/prescient/v1/calendar/";
/// The id the next scheduled event gets.
pub const NEXT_EVENT: &str = "/prescient/v1/calendar-next-id";
/// Address records, by tenant then logical address.
pub const ADDRESSES: &str = "/prescient/v1/address/";
/// Election candidates, by lease.
pub const ELECTION: &str = "/prescient/v1/election/";
/// Members, by name.
pub const MEMBERS: &str = "/prescient/v1/members/";

/// The key of reservation `id`.
pub fn reservation(id: u64) -> String {
    format!("{RESERVATIONS}{id}")
}

/// The key of service `name`.
pub fn service(name: &str) -> String {
    format!("{SERVICES}{name}")
}

/// The key of scheduled event `id`.
pub fn event(id: u64) -> String {
    format!("{CALENDAR}{id}")
}

/// The key of the address record of `logical` in `tenant`.
pub fn address(tenant: &str, logical: std::net::Ipv4Addr) -> String {
    format!("{ADDRESSES}{tenant}/{logical}")
}

/// The election key of a candidate holding `lease`.
pub fn candidate(lease: i64) -> String {
    format!("{ELECTION}{lease:016x}")
}

/// The member key of `name`.
pub fn member(name: &str) -> String {
    format!("{MEMBERS}{name}")
}

/// Whether `key` holds replicated records (reservations, services, events, addresses).
pub fn is_record(key: &str) -> bool {
    key.starts_with(RESERVATIONS)
        || key.starts_with(SERVICES)
        || key.starts_with(CALENDAR)
        || key == NEXT_EVENT
        || key.starts_with(ADDRESSES)
}
