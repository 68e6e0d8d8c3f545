//! P4Runtime byte strings (P4Runtime spec §8.4): big-endian, the server accepts both the canonical
//! form (no leading zero bytes; zero is one 0x00 byte) and zero-padded forms, and answers reads with
//! the canonical form. An empty string is never valid.

/// Why a byte string does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BytesError {
    /// No bytes at all.
    #[error("empty byte string")]
    Empty,
    /// The value needs more bits than the field has.
    #[error("value 0x{value} does not fit in {bitwidth} bits")]
    TooWide {
        /// Hex of the value as sent.
        value: String,
        /// The field's width.
        bitwidth: u32,
    },
}

/// `b` without leading zero bytes, or `[0]` for zero.
pub fn canonical(b: &[u8]) -> Vec<u8> {
    let start = b
        .iter()
        .position(|x| *x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    b.get(start..)
        .map(<[u8]>::to_vec)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| vec![0])
}

/// The canonical encoding of `v`.
pub fn encode(v: u128) -> Vec<u8> {
    canonical(&v.to_be_bytes())
}

/// The value of `b`, checked against a field of `bitwidth` bits (at most 128).
pub fn decode(b: &[u8], bitwidth: u32) -> Result<u128, BytesError> {
    if b.is_empty() {
        return Err(BytesError::Empty);
    }
    let c = canonical(b);
    let too_wide = || BytesError::TooWide {
        value: hex(b),
        bitwidth,
    };
    if c.len() > 16 {
        return Err(too_wide());
    }
    let v = c.iter().fold(0u128, |acc, x| (acc << 8) | u128::from(*x));
    if bitwidth < 128 && v >> bitwidth != 0 {
        return Err(too_wide());
    }
    Ok(v)
}

/// A mask of the `bitwidth` low bits.
pub fn full_mask(bitwidth: u32) -> u128 {
    if bitwidth >= 128 {
        u128::MAX
    } else {
        (1u128 << bitwidth) - 1
    }
}

/// Lower-case hex of `b`, for error messages.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strips_padding_and_keeps_one_zero() {
        assert_eq!(canonical(&[0, 0, 1, 2]), vec![1, 2]);
        assert_eq!(canonical(&[0, 0, 0]), vec![0]);
        assert_eq!(canonical(&[0x80]), vec![0x80]);
        assert_eq!(encode(0), vec![0]);
        assert_eq!(encode(0x0a00_0001), vec![10, 0, 0, 1]);
    }

    #[test]
    fn decode_checks_width_after_padding() {
        assert_eq!(decode(&[0, 0, 1, 0xff], 9), Ok(0x1ff));
        assert!(matches!(
            decode(&[2, 0], 9),
            Err(BytesError::TooWide { bitwidth: 9, .. })
        ));
        assert_eq!(decode(&[], 9), Err(BytesError::Empty));
        assert_eq!(decode(&[0; 20], 48), Ok(0));
        assert!(decode(&[1; 17], 128).is_err());
        assert_eq!(decode(&[0xff; 16], 128), Ok(u128::MAX));
    }
}
