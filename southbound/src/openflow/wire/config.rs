//! GET_CONFIG_REPLY and SET_CONFIG body `ofp_switch_config` (OpenFlow 1.3.5 §7.3.2).

use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::wire_error::Result;

/// `OFPC_FRAG_NORMAL`: no special handling of IP fragments.
pub const OFPC_FRAG_NORMAL: u16 = 0;
/// `OFPC_FRAG_DROP`: drop IP fragments.
pub const OFPC_FRAG_DROP: u16 = 1;
/// `OFPC_FRAG_REASM`: reassemble IP fragments.
pub const OFPC_FRAG_REASM: u16 = 2;

/// `ofp_switch_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchConfig {
    /// `OFPC_*` flags.
    pub flags: u16,
    /// Bytes of a table-miss packet sent to the controller.
    pub miss_send_len: u16,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            flags: OFPC_FRAG_NORMAL,
            miss_send_len: 128,
        }
    }
}

impl SwitchConfig {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<SwitchConfig> {
        Ok(SwitchConfig {
            flags: r.u16("flags")?,
            miss_send_len: r.u16("miss_send_len")?,
        })
    }

    fn body_len(&self) -> usize {
        4
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.flags);
        w.u16(self.miss_send_len);
    }
}

body_api!(SwitchConfig, "SWITCH_CONFIG");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bytes() {
        let c = SwitchConfig {
            flags: OFPC_FRAG_DROP,
            miss_send_len: 0xffff,
        };
        let mut out = [0u8; 4];
        c.emit(&mut out);
        assert_eq!(out, [0, 1, 0xff, 0xff]);
        assert_eq!(SwitchConfig::parse(&out).unwrap(), c);
        assert!(SwitchConfig::parse(&out[..3]).is_err());
    }
}
