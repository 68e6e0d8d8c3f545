//! HELLO with hello elements (OpenFlow 1.3.5 §7.5.1) and version negotiation (§6.3.1).
//!
//! Elements are `type:16`, `length:16` (header included, padding excluded), body, zero padding to
//! 8. The VERSIONBITMAP element lists supported versions as bits of 32-bit words (bit `v` of word
//! `v / 32`). Unknown element types round-trip.

use bytes::Bytes;

use super::body::body_api;
use super::cursor::{pad8, Reader, Writer};
use super::header::OFP_VERSION;
use super::wire_error::{Result, WireError};

/// `OFPHET_VERSIONBITMAP`.
pub const OFPHET_VERSIONBITMAP: u16 = 1;

/// One hello element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloElement {
    /// Supported versions as a bitmap of 32-bit words.
    VersionBitmap(Vec<u32>),
    /// Any other element, kept verbatim (body without padding).
    Unknown {
        /// Element type.
        elem_type: u16,
        /// Body after the 4-byte header, padding excluded.
        body: Bytes,
    },
}

impl HelloElement {
    fn wire_len(&self) -> usize {
        match self {
            HelloElement::VersionBitmap(words) => 4 + 4 * words.len(),
            HelloElement::Unknown { body, .. } => 4 + body.len(),
        }
    }
}

/// A HELLO message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Version in the HELLO's header: the highest version the sender supports.
    pub version: u8,
    /// Hello elements.
    pub elements: Vec<HelloElement>,
}

impl Default for Hello {
    fn default() -> Self {
        Hello::ofp13()
    }
}

fn elem_name(t: u16) -> &'static str {
    if t == OFPHET_VERSIONBITMAP {
        "VERSIONBITMAP"
    } else {
        "UNKNOWN"
    }
}

impl Hello {
    /// Our HELLO: version 1.3 with a bitmap announcing only 1.3.
    pub fn ofp13() -> Hello {
        Hello {
            version: OFP_VERSION,
            elements: vec![HelloElement::VersionBitmap(vec![1 << OFP_VERSION])],
        }
    }

    /// True when the peer announces support for `version` (by bitmap, or by header version if
    /// it sent no bitmap).
    pub fn supports(&self, version: u8) -> bool {
        let bitmap = self.elements.iter().find_map(|e| match e {
            HelloElement::VersionBitmap(w) => Some(w),
            HelloElement::Unknown { .. } => None,
        });
        match bitmap {
            Some(words) => words
                .get(usize::from(version / 32))
                .is_some_and(|w| w & (1 << (version % 32)) != 0),
            None => version <= self.version,
        }
    }

    /// The version to speak with a peer that sent `self`, if it supports 1.3.
    pub fn negotiate(&self) -> Option<u8> {
        self.supports(OFP_VERSION).then_some(OFP_VERSION)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Hello> {
        let mut elements = Vec::new();
        while !r.is_empty() {
            let index = elements.len();
            let (ty, mut b) = r.tlv("hello element", index, elem_name)?;
            let len = b.remaining() + 4;
            r.skip(pad8(len) - len, "hello element padding")?;
            elements.push(if ty == OFPHET_VERSIONBITMAP {
                if len % 4 != 0 {
                    return Err(WireError::BadElementLength {
                        msg: r.msg,
                        what: "hello element",
                        index,
                        kind: "VERSIONBITMAP",
                        len,
                        why: "bitmap must be whole 32-bit words",
                    });
                }
                let mut words = Vec::with_capacity(b.remaining() / 4);
                while !b.is_empty() {
                    words.push(b.u32("version bitmap")?);
                }
                HelloElement::VersionBitmap(words)
            } else {
                HelloElement::Unknown {
                    elem_type: ty,
                    body: b.rest_bytes(),
                }
            });
        }
        Ok(Hello {
            version: OFP_VERSION,
            elements,
        })
    }

    fn body_len(&self) -> usize {
        self.elements.iter().map(|e| pad8(e.wire_len())).sum()
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        for e in &self.elements {
            let len = e.wire_len();
            match e {
                HelloElement::VersionBitmap(words) => {
                    w.u16(OFPHET_VERSIONBITMAP);
                    w.len16(len);
                    for word in words {
                        w.u32(*word);
                    }
                }
                HelloElement::Unknown { elem_type, body } => {
                    w.u16(*elem_type);
                    w.len16(len);
                    w.put(body);
                }
            }
            w.zeros(pad8(len) - len);
        }
    }
}

body_api!(Hello, "HELLO");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ovs_hello_body_parses() {
        // OVS 2.x announcing 1.0, 1.3 (bits 1 and 4): element of length 8.
        let body = [0, 1, 0, 8, 0, 0, 0, 0x12];
        let h = Hello::parse(&body).unwrap();
        assert_eq!(h.elements, vec![HelloElement::VersionBitmap(vec![0x12])]);
        assert_eq!(h.negotiate(), Some(4));
        assert!(!h.supports(5));
        let mut out = vec![0u8; h.buffer_len()];
        h.emit(&mut out);
        assert_eq!(out, body);
    }

    #[test]
    fn odd_length_elements_are_padded() {
        let h = Hello {
            version: 4,
            elements: vec![
                HelloElement::VersionBitmap(vec![0x10, 0]),
                HelloElement::Unknown {
                    elem_type: 9,
                    body: Bytes::from_static(&[1]),
                },
            ],
        };
        assert_eq!(h.buffer_len(), 16 + 8);
        let mut out = vec![0u8; h.buffer_len()];
        h.emit(&mut out);
        assert_eq!(&out[..4], &[0, 1, 0, 12]);
        assert_eq!(Hello::parse(&out).unwrap(), h);
    }

    #[test]
    fn no_bitmap_falls_back_to_header_version() {
        let old = Hello {
            version: 1,
            elements: vec![],
        };
        assert_eq!(old.negotiate(), None);
        let newer = Hello {
            version: 6,
            elements: vec![],
        };
        assert_eq!(newer.negotiate(), Some(4));
    }

    #[test]
    fn missing_padding_is_an_error() {
        let e = Hello::parse(&[0, 1, 0, 8, 0, 0, 0, 0x10, 0, 9, 0, 5, 1]).unwrap_err();
        assert!(
            matches!(
                e,
                WireError::Truncated {
                    field: "hello element padding",
                    ..
                }
            ),
            "{e}"
        );
    }
}
