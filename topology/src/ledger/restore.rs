//! Putting back reservations admitted before a restart, and telling a persister which
//! reservations changed.
//!
//! `restore` keeps the id a reservation was admitted with, and the next id handed out stays
//! above every id restored, so ids never collide. It does not re-run admission (the
//! reservation was admitted before): links it does not know yet are accepted as they are; on
//! links it knows, the reservation must still fit, without preempting anything.

use std::collections::BTreeSet;

use super::{
    check_path, check_rate_and_window, clamp, load, Entry, Ledger, LedgerError, Reservation,
    ReservationId,
};

impl Ledger {
    /// Puts back a reservation with its original id and path. Refused unchanged when the id is
    /// in use, the values are invalid, or a link it knows lacks room for it.
    pub fn restore(&mut self, r: Reservation) -> Result<(), LedgerError> {
        if self.reservations.contains_key(&r.id) {
            return Err(LedgerError::DuplicateId(r.id));
        }
        check_rate_and_window(&r.request)?;
        check_path(&r.request)?;
        for link in &r.request.path {
            let Some(cap) = self.capacity.get(link).copied() else {
                continue;
            };
            let entries = self.per_link.get(link).map(Vec::as_slice).unwrap_or(&[]);
            let (committed, at) = load::peak(entries, r.request.window, &BTreeSet::new());
            let need = committed + u128::from(r.request.rate_bps);
            if need > u128::from(cap) {
                return Err(LedgerError::Insufficient {
                    link: *link,
                    at,
                    capacity_bps: cap,
                    committed_bps: clamp(committed),
                    requested_bps: r.request.rate_bps,
                    missing_bps: clamp(need - u128::from(cap)),
                });
            }
        }
        for link in &r.request.path {
            self.per_link.entry(*link).or_default().push(Entry {
                id: r.id,
                window: r.request.window,
                rate_bps: r.request.rate_bps,
                tier: r.request.tier,
            });
        }
        self.next_id = self.next_id.max(r.id.0.saturating_add(1));
        self.mark_changed(r.id);
        self.reservations.insert(r.id, r);
        Ok(())
    }

    /// Keeps the ids handed out from now on above `id`: a reservation held outside the ledger
    /// (one waiting for a path with room) keeps its id across a restart, and no admission may
    /// take it meanwhile.
    pub fn skip_id(&mut self, id: ReservationId) {
        self.next_id = self.next_id.max(id.0.saturating_add(1));
    }

    /// Starts recording which reservations change (admitted, rerouted, released, preempted,
    /// evicted, expired, restored), for [`Ledger::take_changes`].
    pub fn track_changes(&mut self) {
        self.changes.get_or_insert_with(BTreeSet::new);
    }

    /// The ids changed since the last call (empty when not tracking); look each up with
    /// [`Ledger::get`] to learn whether it is still there and how.
    pub fn take_changes(&mut self) -> BTreeSet<ReservationId> {
        self.changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Records that `id` changed, when tracking (also: to retry a write that failed).
    pub fn mark_changed(&mut self, id: ReservationId) {
        if let Some(c) = self.changes.as_mut() {
            c.insert(id);
        }
    }

    /// The id the next admission will get.
    pub fn next_id(&self) -> ReservationId {
        ReservationId(self.next_id.max(1))
    }
}
