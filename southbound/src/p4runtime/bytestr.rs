//! P4Runtime byte strings (P4Runtime spec §8.4, "Bytestrings").
//!
//! Integers of `bit<W>` type travel as big-endian byte strings. The canonical form is the
//! shortest string that holds the value, and the value 0 is one zero byte. We always SEND the
//! canonical form and ACCEPT both canonical and zero-padded strings (older targets pad to
//! `ceil(W/8)` bytes), normalising on receipt so that comparisons are byte-for-byte.
//!
//! Invariant: every function here is total; none panics on any input.

use std::net::Ipv4Addr;

/// Returns the canonical form of `bytes`: leading zero bytes removed, at least one byte kept.
pub fn canonical(bytes: &[u8]) -> Vec<u8> {
    match bytes.iter().position(|&b| b != 0) {
        Some(first) => bytes.get(first..).unwrap_or_default().to_vec(),
        None => vec![0],
    }
}

/// Canonicalises `bytes` in place (see [`canonical`]).
pub fn canonicalize_in_place(bytes: &mut Vec<u8>) {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    if zeros == bytes.len() {
        bytes.clear();
        bytes.push(0);
    } else if zeros > 0 {
        bytes.drain(..zeros);
    }
}

/// Number of significant bits of the big-endian unsigned value in `bytes` (0 for zero).
pub fn significant_bits(bytes: &[u8]) -> u32 {
    match bytes.iter().position(|&b| b != 0) {
        Some(first) => {
            let rest = u32::try_from(bytes.len() - first - 1).unwrap_or(u32::MAX / 16);
            let top = bytes.get(first).copied().unwrap_or(0);
            rest.saturating_mul(8)
                .saturating_add(8 - top.leading_zeros())
        }
        None => 0,
    }
}

/// Whether the unsigned value in `bytes` fits in `bitwidth` bits.
pub fn fits(bytes: &[u8], bitwidth: u32) -> bool {
    significant_bits(bytes) <= bitwidth
}

/// Canonical encoding of an unsigned integer.
pub fn from_u128(value: u128) -> Vec<u8> {
    canonical(&value.to_be_bytes())
}

/// Canonical encoding of an unsigned 64-bit integer.
pub fn from_u64(value: u64) -> Vec<u8> {
    canonical(&value.to_be_bytes())
}

/// The value of a byte string as an integer, or `None` when it needs more than 128 bits.
pub fn to_u128(bytes: &[u8]) -> Option<u128> {
    if significant_bits(bytes) > 128 {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u128, |acc, &b| acc.wrapping_shl(8) | u128::from(b)),
    )
}

/// The value zero-padded to exactly `ceil(bitwidth / 8)` bytes, or `None` if it does not fit.
pub fn padded(bytes: &[u8], bitwidth: u32) -> Option<Vec<u8>> {
    if !fits(bytes, bitwidth) {
        return None;
    }
    let width = usize::try_from(bitwidth.div_ceil(8)).ok()?;
    let value = canonical(bytes);
    let mut out = vec![0u8; width.saturating_sub(value.len())];
    if width == 0 {
        return Some(Vec::new());
    }
    out.extend_from_slice(&value);
    Some(out)
}

/// Canonical encoding of an IPv4 address (32-bit field).
pub fn ipv4(addr: Ipv4Addr) -> Vec<u8> {
    canonical(&addr.octets())
}

/// Canonical encoding of a MAC address (48-bit field).
pub fn mac(addr: [u8; 6]) -> Vec<u8> {
    canonical(&addr)
}

/// Hex rendering for error messages (`0x0a0b`).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A mask of the top `prefix_len` bits of a `bitwidth`-bit field, as a padded byte string.
pub fn prefix_mask(prefix_len: u32, bitwidth: u32) -> Vec<u8> {
    let width = bitwidth.div_ceil(8) as usize;
    let mut out = vec![0u8; width];
    // Bits are counted from the most significant bit of the W-bit field, which starts
    // `width * 8 - bitwidth` bits into the padded string.
    let lead = (width as u32) * 8 - bitwidth;
    for bit in lead..lead.saturating_add(prefix_len).min(width as u32 * 8) {
        if let Some(byte) = out.get_mut((bit / 8) as usize) {
            *byte |= 0x80 >> (bit % 8);
        }
    }
    out
}

/// `value & !mask` is zero, comparing right-aligned strings of any lengths.
pub fn within_mask(value: &[u8], mask: &[u8]) -> bool {
    let n = value.len().max(mask.len());
    (0..n).all(|i| {
        let v = right_aligned(value, n, i);
        let m = right_aligned(mask, n, i);
        v & !m == 0
    })
}

/// Compares two unsigned big-endian byte strings by value.
pub fn cmp_value(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let a = canonical(a);
    let b = canonical(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

fn right_aligned(bytes: &[u8], n: usize, i: usize) -> u8 {
    let pad = n - bytes.len();
    if i < pad {
        0
    } else {
        bytes.get(i - pad).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_is_a_single_zero_byte() {
        assert_eq!(canonical(&[]), vec![0]);
        assert_eq!(canonical(&[0, 0, 0]), vec![0]);
        assert_eq!(from_u128(0), vec![0]);
    }

    #[test]
    fn leading_zeros_are_dropped() {
        assert_eq!(canonical(&[0, 0, 1, 0]), vec![1, 0]);
        assert_eq!(ipv4(Ipv4Addr::new(0, 0, 10, 1)), vec![10, 1]);
        assert_eq!(mac([0, 0, 0, 0, 0, 0xff]), vec![0xff]);
    }

    #[test]
    fn bit_counting_and_fit() {
        assert_eq!(significant_bits(&[0x01, 0xff]), 9);
        assert!(fits(&[0x01, 0xff], 9));
        assert!(!fits(&[0x02, 0x00], 9));
        assert!(
            fits(&[0, 0, 0, 0x01, 0xff], 9),
            "zero padding does not count"
        );
        assert_eq!(padded(&[0x01, 0xff], 9), Some(vec![0x01, 0xff]));
        assert_eq!(padded(&[0x05], 16), Some(vec![0, 5]));
        assert_eq!(padded(&[0x02, 0x00], 9), None);
    }

    #[test]
    fn masks() {
        assert_eq!(prefix_mask(24, 32), vec![0xff, 0xff, 0xff, 0]);
        assert_eq!(prefix_mask(1, 9), vec![0x01, 0x00]);
        assert_eq!(prefix_mask(0, 32), vec![0, 0, 0, 0]);
        assert!(within_mask(&[10, 0, 0, 0], &[0xff, 0, 0, 0]));
        assert!(!within_mask(&[10, 0, 0, 1], &[0xff, 0, 0, 0]));
        assert!(within_mask(&[1], &[0, 0, 0, 1]));
    }

    proptest! {
        #[test]
        fn canonical_round_trips_integers(v in any::<u128>(), pad in 0usize..4) {
            let mut bytes = vec![0u8; pad];
            bytes.extend(from_u128(v));
            prop_assert_eq!(to_u128(&bytes), Some(v));
            prop_assert_eq!(canonical(&bytes), from_u128(v));
            let mut inplace = bytes.clone();
            canonicalize_in_place(&mut inplace);
            prop_assert_eq!(inplace, from_u128(v));
            prop_assert_eq!(significant_bits(&bytes), 128 - v.leading_zeros());
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40), w in 0u32..300) {
            let _ = padded(&bytes, w);
            let _ = to_u128(&bytes);
            let _ = prefix_mask(w, w);
            let _ = within_mask(&bytes, &bytes);
        }
    }
}
