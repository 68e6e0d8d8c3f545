//! The ERROR message (OpenFlow 1.3.5 §7.4.4): `type:16`, `code:16`, data (usually the first 64
//! bytes of the offending request). Every type and code is an enum with `Unknown`, so errors from
//! newer switches round-trip. The experimenter form is `type=0xffff`, `exp_type:16`,
//! `experimenter:32`, data.

use bytes::Bytes;

use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::enums::wire_enum;
use super::wire_error::Result;

/// `OFPET_EXPERIMENTER`.
pub const OFPET_EXPERIMENTER: u16 = 0xffff;

wire_enum! {
    /// `ofp_hello_failed_code`.
    pub enum HelloFailedCode: u16 {
        Incompatible = 0 => "INCOMPATIBLE",
        Eperm = 1 => "EPERM",
    }
}

wire_enum! {
    /// `ofp_bad_request_code`.
    pub enum BadRequestCode: u16 {
        BadVersion = 0 => "BAD_VERSION",
        BadType = 1 => "BAD_TYPE",
        BadMultipart = 2 => "BAD_MULTIPART",
        BadExperimenter = 3 => "BAD_EXPERIMENTER",
        BadExpType = 4 => "BAD_EXP_TYPE",
        Eperm = 5 => "EPERM",
        BadLen = 6 => "BAD_LEN",
        BufferEmpty = 7 => "BUFFER_EMPTY",
        BufferUnknown = 8 => "BUFFER_UNKNOWN",
        BadTableId = 9 => "BAD_TABLE_ID",
        IsSlave = 10 => "IS_SLAVE",
        BadPort = 11 => "BAD_PORT",
        BadPacket = 12 => "BAD_PACKET",
        MultipartBufferOverflow = 13 => "MULTIPART_BUFFER_OVERFLOW",
    }
}

wire_enum! {
    /// `ofp_bad_action_code`.
    pub enum BadActionCode: u16 {
        BadType = 0 => "BAD_TYPE",
        BadLen = 1 => "BAD_LEN",
        BadExperimenter = 2 => "BAD_EXPERIMENTER",
        BadExpType = 3 => "BAD_EXP_TYPE",
        BadOutPort = 4 => "BAD_OUT_PORT",
        BadArgument = 5 => "BAD_ARGUMENT",
        Eperm = 6 => "EPERM",
        TooMany = 7 => "TOO_MANY",
        BadQueue = 8 => "BAD_QUEUE",
        BadOutGroup = 9 => "BAD_OUT_GROUP",
        MatchInconsistent = 10 => "MATCH_INCONSISTENT",
        UnsupportedOrder = 11 => "UNSUPPORTED_ORDER",
        BadTag = 12 => "BAD_TAG",
        BadSetType = 13 => "BAD_SET_TYPE",
        BadSetLen = 14 => "BAD_SET_LEN",
        BadSetArgument = 15 => "BAD_SET_ARGUMENT",
    }
}

wire_enum! {
    /// `ofp_bad_instruction_code`.
    pub enum BadInstructionCode: u16 {
        UnknownInst = 0 => "UNKNOWN_INST",
        UnsupInst = 1 => "UNSUP_INST",
        BadTableId = 2 => "BAD_TABLE_ID",
        UnsupMetadata = 3 => "UNSUP_METADATA",
        UnsupMetadataMask = 4 => "UNSUP_METADATA_MASK",
        BadExperimenter = 5 => "BAD_EXPERIMENTER",
        BadExpType = 6 => "BAD_EXP_TYPE",
        BadLen = 7 => "BAD_LEN",
        Eperm = 8 => "EPERM",
    }
}

wire_enum! {
    /// `ofp_bad_match_code`.
    pub enum BadMatchCode: u16 {
        BadType = 0 => "BAD_TYPE",
        BadLen = 1 => "BAD_LEN",
        BadTag = 2 => "BAD_TAG",
        BadDlAddrMask = 3 => "BAD_DL_ADDR_MASK",
        BadNwAddrMask = 4 => "BAD_NW_ADDR_MASK",
        BadWildcards = 5 => "BAD_WILDCARDS",
        BadField = 6 => "BAD_FIELD",
        BadValue = 7 => "BAD_VALUE",
        BadMask = 8 => "BAD_MASK",
        BadPrereq = 9 => "BAD_PREREQ",
        DupField = 10 => "DUP_FIELD",
        Eperm = 11 => "EPERM",
    }
}

wire_enum! {
    /// `ofp_flow_mod_failed_code`.
    pub enum FlowModFailedCode: u16 {
        Unspecified = 0 => "UNKNOWN",
        TableFull = 1 => "TABLE_FULL",
        BadTableId = 2 => "BAD_TABLE_ID",
        Overlap = 3 => "OVERLAP",
        Eperm = 4 => "EPERM",
        BadTimeout = 5 => "BAD_TIMEOUT",
        BadCommand = 6 => "BAD_COMMAND",
        BadFlags = 7 => "BAD_FLAGS",
    }
}

wire_enum! {
    /// `ofp_group_mod_failed_code`.
    pub enum GroupModFailedCode: u16 {
        GroupExists = 0 => "GROUP_EXISTS",
        InvalidGroup = 1 => "INVALID_GROUP",
        WeightUnsupported = 2 => "WEIGHT_UNSUPPORTED",
        OutOfGroups = 3 => "OUT_OF_GROUPS",
        OutOfBuckets = 4 => "OUT_OF_BUCKETS",
        ChainingUnsupported = 5 => "CHAINING_UNSUPPORTED",
        WatchUnsupported = 6 => "WATCH_UNSUPPORTED",
        Loop = 7 => "LOOP",
        UnknownGroup = 8 => "UNKNOWN_GROUP",
        ChainedGroup = 9 => "CHAINED_GROUP",
        BadType = 10 => "BAD_TYPE",
        BadCommand = 11 => "BAD_COMMAND",
        BadBucket = 12 => "BAD_BUCKET",
        BadWatch = 13 => "BAD_WATCH",
        Eperm = 14 => "EPERM",
    }
}

wire_enum! {
    /// `ofp_port_mod_failed_code`.
    pub enum PortModFailedCode: u16 {
        BadPort = 0 => "BAD_PORT",
        BadHwAddr = 1 => "BAD_HW_ADDR",
        BadConfig = 2 => "BAD_CONFIG",
        BadAdvertise = 3 => "BAD_ADVERTISE",
        Eperm = 4 => "EPERM",
    }
}

wire_enum! {
    /// `ofp_table_mod_failed_code`.
    pub enum TableModFailedCode: u16 {
        BadTable = 0 => "BAD_TABLE",
        BadConfig = 1 => "BAD_CONFIG",
        Eperm = 2 => "EPERM",
    }
}

wire_enum! {
    /// `ofp_queue_op_failed_code`.
    pub enum QueueOpFailedCode: u16 {
        BadPort = 0 => "BAD_PORT",
        BadQueue = 1 => "BAD_QUEUE",
        Eperm = 2 => "EPERM",
    }
}

wire_enum! {
    /// `ofp_switch_config_failed_code`.
    pub enum SwitchConfigFailedCode: u16 {
        BadFlags = 0 => "BAD_FLAGS",
        BadLen = 1 => "BAD_LEN",
        Eperm = 2 => "EPERM",
    }
}

wire_enum! {
    /// `ofp_role_request_failed_code`.
    pub enum RoleRequestFailedCode: u16 {
        Stale = 0 => "STALE",
        Unsup = 1 => "UNSUP",
        BadRole = 2 => "BAD_ROLE",
    }
}

wire_enum! {
    /// `ofp_meter_mod_failed_code`.
    pub enum MeterModFailedCode: u16 {
        Unspecified = 0 => "UNKNOWN",
        MeterExists = 1 => "METER_EXISTS",
        InvalidMeter = 2 => "INVALID_METER",
        UnknownMeter = 3 => "UNKNOWN_METER",
        BadCommand = 4 => "BAD_COMMAND",
        BadFlags = 5 => "BAD_FLAGS",
        BadRate = 6 => "BAD_RATE",
        BadBurst = 7 => "BAD_BURST",
        BadBand = 8 => "BAD_BAND",
        BadBandValue = 9 => "BAD_BAND_VALUE",
        OutOfMeters = 10 => "OUT_OF_METERS",
        OutOfBands = 11 => "OUT_OF_BANDS",
    }
}

wire_enum! {
    /// `ofp_table_features_failed_code`.
    pub enum TableFeaturesFailedCode: u16 {
        BadTable = 0 => "BAD_TABLE",
        BadMetadata = 1 => "BAD_METADATA",
        BadType = 2 => "BAD_TYPE",
        BadLen = 3 => "BAD_LEN",
        BadArgument = 4 => "BAD_ARGUMENT",
        Eperm = 5 => "EPERM",
    }
}

/// `ofp_error_type` together with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `OFPET_HELLO_FAILED` (0).
    HelloFailed(HelloFailedCode),
    /// `OFPET_BAD_REQUEST` (1).
    BadRequest(BadRequestCode),
    /// `OFPET_BAD_ACTION` (2).
    BadAction(BadActionCode),
    /// `OFPET_BAD_INSTRUCTION` (3).
    BadInstruction(BadInstructionCode),
    /// `OFPET_BAD_MATCH` (4).
    BadMatch(BadMatchCode),
    /// `OFPET_FLOW_MOD_FAILED` (5).
    FlowModFailed(FlowModFailedCode),
    /// `OFPET_GROUP_MOD_FAILED` (6).
    GroupModFailed(GroupModFailedCode),
    /// `OFPET_PORT_MOD_FAILED` (7).
    PortModFailed(PortModFailedCode),
    /// `OFPET_TABLE_MOD_FAILED` (8).
    TableModFailed(TableModFailedCode),
    /// `OFPET_QUEUE_OP_FAILED` (9).
    QueueOpFailed(QueueOpFailedCode),
    /// `OFPET_SWITCH_CONFIG_FAILED` (10).
    SwitchConfigFailed(SwitchConfigFailedCode),
    /// `OFPET_ROLE_REQUEST_FAILED` (11).
    RoleRequestFailed(RoleRequestFailedCode),
    /// `OFPET_METER_MOD_FAILED` (12).
    MeterModFailed(MeterModFailedCode),
    /// `OFPET_TABLE_FEATURES_FAILED` (13).
    TableFeaturesFailed(TableFeaturesFailedCode),
    /// `OFPET_EXPERIMENTER` (0xffff).
    Experimenter {
        /// Experimenter-defined type.
        exp_type: u16,
        /// Experimenter id.
        experimenter: u32,
    },
    /// An error type this codec does not name.
    Unknown {
        /// Error type.
        err_type: u16,
        /// Error code.
        code: u16,
    },
}

impl ErrorKind {
    /// Builds the kind from the wire `type` and `code` (not for the experimenter type).
    pub fn from_parts(err_type: u16, code: u16) -> ErrorKind {
        match err_type {
            0 => ErrorKind::HelloFailed(code.into()),
            1 => ErrorKind::BadRequest(code.into()),
            2 => ErrorKind::BadAction(code.into()),
            3 => ErrorKind::BadInstruction(code.into()),
            4 => ErrorKind::BadMatch(code.into()),
            5 => ErrorKind::FlowModFailed(code.into()),
            6 => ErrorKind::GroupModFailed(code.into()),
            7 => ErrorKind::PortModFailed(code.into()),
            8 => ErrorKind::TableModFailed(code.into()),
            9 => ErrorKind::QueueOpFailed(code.into()),
            10 => ErrorKind::SwitchConfigFailed(code.into()),
            11 => ErrorKind::RoleRequestFailed(code.into()),
            12 => ErrorKind::MeterModFailed(code.into()),
            13 => ErrorKind::TableFeaturesFailed(code.into()),
            _ => ErrorKind::Unknown { err_type, code },
        }
    }

    /// The wire `(type, code)`; for the experimenter form, `(0xffff, exp_type)`.
    pub fn parts(self) -> (u16, u16) {
        match self {
            ErrorKind::HelloFailed(c) => (0, c.into()),
            ErrorKind::BadRequest(c) => (1, c.into()),
            ErrorKind::BadAction(c) => (2, c.into()),
            ErrorKind::BadInstruction(c) => (3, c.into()),
            ErrorKind::BadMatch(c) => (4, c.into()),
            ErrorKind::FlowModFailed(c) => (5, c.into()),
            ErrorKind::GroupModFailed(c) => (6, c.into()),
            ErrorKind::PortModFailed(c) => (7, c.into()),
            ErrorKind::TableModFailed(c) => (8, c.into()),
            ErrorKind::QueueOpFailed(c) => (9, c.into()),
            ErrorKind::SwitchConfigFailed(c) => (10, c.into()),
            ErrorKind::RoleRequestFailed(c) => (11, c.into()),
            ErrorKind::MeterModFailed(c) => (12, c.into()),
            ErrorKind::TableFeaturesFailed(c) => (13, c.into()),
            ErrorKind::Experimenter { exp_type, .. } => (OFPET_EXPERIMENTER, exp_type),
            ErrorKind::Unknown { err_type, code } => (err_type, code),
        }
    }
}

impl core::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ErrorKind::HelloFailed(c) => write!(f, "HELLO_FAILED/{c}"),
            ErrorKind::BadRequest(c) => write!(f, "BAD_REQUEST/{c}"),
            ErrorKind::BadAction(c) => write!(f, "BAD_ACTION/{c}"),
            ErrorKind::BadInstruction(c) => write!(f, "BAD_INSTRUCTION/{c}"),
            ErrorKind::BadMatch(c) => write!(f, "BAD_MATCH/{c}"),
            ErrorKind::FlowModFailed(c) => write!(f, "FLOW_MOD_FAILED/{c}"),
            ErrorKind::GroupModFailed(c) => write!(f, "GROUP_MOD_FAILED/{c}"),
            ErrorKind::PortModFailed(c) => write!(f, "PORT_MOD_FAILED/{c}"),
            ErrorKind::TableModFailed(c) => write!(f, "TABLE_MOD_FAILED/{c}"),
            ErrorKind::QueueOpFailed(c) => write!(f, "QUEUE_OP_FAILED/{c}"),
            ErrorKind::SwitchConfigFailed(c) => write!(f, "SWITCH_CONFIG_FAILED/{c}"),
            ErrorKind::RoleRequestFailed(c) => write!(f, "ROLE_REQUEST_FAILED/{c}"),
            ErrorKind::MeterModFailed(c) => write!(f, "METER_MOD_FAILED/{c}"),
            ErrorKind::TableFeaturesFailed(c) => write!(f, "TABLE_FEATURES_FAILED/{c}"),
            ErrorKind::Experimenter {
                exp_type,
                experimenter,
            } => {
                write!(f, "EXPERIMENTER({experimenter:#x})/{exp_type}")
            }
            ErrorKind::Unknown { err_type, code } => write!(f, "UNKNOWN({err_type})/{code}"),
        }
    }
}

/// An ERROR message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMsg {
    /// Type and code.
    pub kind: ErrorKind,
    /// Data: for most errors, at least 64 bytes of the failed request.
    pub data: Bytes,
}

impl ErrorMsg {
    /// An error whose data is the first 64 bytes of the offending request, as the spec asks.
    pub fn about(kind: ErrorKind, request: &[u8]) -> ErrorMsg {
        let n = request.len().min(64);
        ErrorMsg {
            kind,
            data: Bytes::copy_from_slice(request.get(..n).unwrap_or(&[])),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<ErrorMsg> {
        let err_type = r.u16("type")?;
        let code = r.u16("code")?;
        let kind = if err_type == OFPET_EXPERIMENTER {
            ErrorKind::Experimenter {
                exp_type: code,
                experimenter: r.u32("experimenter")?,
            }
        } else {
            ErrorKind::from_parts(err_type, code)
        };
        Ok(ErrorMsg {
            kind,
            data: r.rest_bytes(),
        })
    }

    fn body_len(&self) -> usize {
        let exp = matches!(self.kind, ErrorKind::Experimenter { .. });
        4 + if exp { 4 } else { 0 } + self.data.len()
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let (t, c) = self.kind.parts();
        w.u16(t);
        w.u16(c);
        if let ErrorKind::Experimenter { experimenter, .. } = self.kind {
            w.u32(experimenter);
        }
        w.put(&self.data);
    }
}

body_api!(ErrorMsg, "ERROR");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_mod_failed_table_full() {
        let body = [0, 5, 0, 1, 4, 14, 0, 8, 0, 0, 0, 9];
        let e = ErrorMsg::parse(&body).unwrap();
        assert_eq!(
            e.kind,
            ErrorKind::FlowModFailed(FlowModFailedCode::TableFull)
        );
        assert_eq!(e.kind.to_string(), "FLOW_MOD_FAILED/TABLE_FULL");
        assert_eq!(&e.data[..], &body[4..]);
        let mut out = vec![0u8; e.buffer_len()];
        e.emit(&mut out);
        assert_eq!(out, body);
    }

    #[test]
    fn unknown_types_and_codes_round_trip() {
        for (t, c) in [(1u16, 99u16), (42, 3), (12, 0)] {
            let kind = ErrorKind::from_parts(t, c);
            assert_eq!(kind.parts(), (t, c));
        }
        let exp = ErrorMsg {
            kind: ErrorKind::Experimenter {
                exp_type: 7,
                experimenter: 0x2320,
            },
            data: Bytes::from_static(b"x"),
        };
        let mut out = vec![0u8; exp.buffer_len()];
        exp.emit(&mut out);
        assert_eq!(out, [0xff, 0xff, 0, 7, 0, 0, 0x23, 0x20, b'x']);
        assert_eq!(ErrorMsg::parse(&out).unwrap(), exp);
    }

    #[test]
    fn truncated_error_names_field() {
        let e = ErrorMsg::parse(&[0, 1, 0]).unwrap_err();
        assert_eq!(e.to_string(), "ERROR: code needs 2 bytes, only 1 remain");
    }
}
