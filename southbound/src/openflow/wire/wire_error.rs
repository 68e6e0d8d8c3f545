//! The one error type of the wire codec: every variant names the message, the field and the value.

use thiserror::Error;

/// Why bytes could not be parsed as (or a value could not be emitted as) OpenFlow 1.3.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// A fixed-size field runs past the end of the buffer.
    #[error("{msg}: {field} needs {need} bytes, only {have} remain")]
    Truncated {
        /// Message (or structure) being parsed.
        msg: &'static str,
        /// Field that did not fit.
        field: &'static str,
        /// Bytes the field needs.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// A length-prefixed element (action, instruction, bucket, band, OXM...) runs past its container.
    #[error("{msg}: {what} {index} ({kind}) length {len} exceeds remaining {remaining} bytes")]
    ElementOverrun {
        /// Message being parsed.
        msg: &'static str,
        /// Kind of element ("instruction", "action", ...).
        what: &'static str,
        /// Position of the element in its list, from 0.
        index: usize,
        /// Spec name of the element's type.
        kind: &'static str,
        /// Length the element claims.
        len: usize,
        /// Bytes left in the container.
        remaining: usize,
    },
    /// A length-prefixed element has a length its type does not allow.
    #[error("{msg}: {what} {index} ({kind}) length {len} is invalid: {why}")]
    BadElementLength {
        /// Message being parsed.
        msg: &'static str,
        /// Kind of element.
        what: &'static str,
        /// Position of the element in its list, from 0.
        index: usize,
        /// Spec name of the element's type.
        kind: &'static str,
        /// Length the element claims.
        len: usize,
        /// What the spec requires.
        why: &'static str,
    },
    /// A field holds a value the spec forbids.
    #[error("{msg}: field {field} has invalid value {value:#x}: {why}")]
    BadValue {
        /// Message being parsed.
        msg: &'static str,
        /// Field holding the value.
        field: &'static str,
        /// The offending value.
        value: u64,
        /// What the spec requires.
        why: &'static str,
    },
    /// The header's length field is below the 8-byte header itself.
    #[error("header: length {length} is less than the 8-byte header")]
    HeaderTooShort {
        /// Length the header claims.
        length: u16,
    },
    /// The header's length field exceeds what the receiver accepts.
    #[error("header: length {length} exceeds the maximum frame length {max}")]
    FrameTooLong {
        /// Length the header claims.
        length: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The header's length disagrees with the buffer handed to `parse`.
    #[error("{msg}: header length {header} disagrees with the {actual} bytes given")]
    LengthMismatch {
        /// Message being parsed.
        msg: &'static str,
        /// Length in the header.
        header: usize,
        /// Length of the buffer.
        actual: usize,
    },
    /// A message other than HELLO carries a version this codec does not speak.
    #[error("{msg}: unsupported OpenFlow version {version:#04x} (this codec speaks 1.3 = 0x04)")]
    UnsupportedVersion {
        /// Message type name.
        msg: &'static str,
        /// Version in the header.
        version: u8,
    },
    /// A structure ends before its container does, and the spec allows no trailing bytes.
    #[error("{msg}: {field} has {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// Message being parsed.
        msg: &'static str,
        /// Structure that should have filled the container.
        field: &'static str,
        /// Bytes left over.
        extra: usize,
    },
    /// A value is too large to encode: its length does not fit the 16-bit length field.
    #[error("{msg}: encoded length {len} exceeds the 16-bit length field (max 65535)")]
    TooLong {
        /// Message being emitted.
        msg: &'static str,
        /// Length the encoding would need.
        len: usize,
    },
    /// The output buffer is smaller than `buffer_len()`.
    #[error("{msg}: output buffer of {have} bytes is smaller than the {need} bytes needed")]
    BufferTooSmall {
        /// Message being emitted.
        msg: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

/// Result alias of the wire codec.
pub type Result<T> = core::result::Result<T, WireError>;
