//! The links at one port, as [`super::Topology`] indexes them: a sorted vector, since a port
//! is an end of one or two links (a cable's two directions). A `BTreeSet` held a whole node of
//! eleven keys for them, about 540 bytes a port where this holds two keys in 96: heaptrack found
//! the index at 3.2 MB for a 1,000-switch network (4,198 links).

use crate::ids::LinkKey;

/// The keys of the links one port is an end of, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PortLinks(Vec<LinkKey>);

impl PortLinks {
    /// Adds `key` (once).
    pub(crate) fn insert(&mut self, key: LinkKey) {
        if let Err(at) = self.0.binary_search(&key) {
            // A port's first link usually gets its reverse next: room for both at once.
            if self.0.capacity() == 0 {
                self.0.reserve_exact(2);
            }
            self.0.insert(at, key);
        }
    }

    /// Removes `key` if present.
    pub(crate) fn remove(&mut self, key: &LinkKey) {
        if let Ok(at) = self.0.binary_search(key) {
            self.0.remove(at);
        }
    }

    /// Whether `key` is among them.
    #[cfg(test)]
    pub(crate) fn contains(&self, key: &LinkKey) -> bool {
        self.0.binary_search(key).is_ok()
    }

    /// How many.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &LinkKey> + '_ {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DeviceId, PortNo, PortRef};

    fn key(a: u64, b: u64) -> LinkKey {
        LinkKey::new(
            PortRef::new(DeviceId::openflow(a), PortNo(1)),
            PortRef::new(DeviceId::openflow(b), PortNo(1)),
        )
    }

    #[test]
    fn keys_stay_unique_and_in_order_as_a_set_keeps_them() {
        let mut links = PortLinks::default();
        for k in [key(3, 1), key(1, 3), key(2, 1), key(1, 3)] {
            links.insert(k);
        }
        assert_eq!(links.len(), 3);
        let order: Vec<LinkKey> = links.iter().copied().collect();
        assert_eq!(order, [key(1, 3), key(2, 1), key(3, 1)]);
        links.remove(&key(2, 1));
        links.remove(&key(9, 9));
        assert!(!links.contains(&key(2, 1)) && links.contains(&key(3, 1)));
        links.remove(&key(1, 3));
        links.remove(&key(3, 1));
        assert!(links.is_empty());
    }

    #[test]
    fn a_cable_s_two_directions_take_one_allocation_of_two_keys() {
        let mut links = PortLinks::default();
        links.insert(key(1, 2));
        links.insert(key(2, 1));
        assert_eq!(links.0.capacity(), 2);
    }
}
