//! Error types of the P4Runtime client, one enum per layer: loading a P4Info, resolving names
//! against it, and talking to a target. Each variant names the entity, field and value at fault.

use super::proto::p4::v1 as p4;

/// Which kind of P4Info entity a name or id refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// A match-action table.
    Table,
    /// An action.
    Action,
    /// An action profile or selector.
    ActionProfile,
    /// An indexed counter.
    Counter,
    /// A direct counter.
    DirectCounter,
    /// An indexed meter.
    Meter,
    /// A direct meter.
    DirectMeter,
    /// A digest.
    Digest,
    /// A controller packet header (`packet_in` / `packet_out`).
    ControllerHeader,
    /// A register.
    Register,
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Table => "table",
            Self::Action => "action",
            Self::ActionProfile => "action profile",
            Self::Counter => "counter",
            Self::DirectCounter => "direct counter",
            Self::Meter => "meter",
            Self::DirectMeter => "direct meter",
            Self::Digest => "digest",
            Self::ControllerHeader => "controller header",
            Self::Register => "register",
        })
    }
}

/// A P4Info could not be read or is inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum P4InfoError {
    /// The bytes are neither protobuf text format nor binary protobuf.
    #[error("P4Info looks like protobuf text format but does not parse: {0}")]
    Text(String),
    /// The bytes looked binary but do not decode as `p4.config.v1.P4Info`.
    #[error("P4Info is not valid binary protobuf: {0}")]
    Binary(#[from] prost::DecodeError),
    /// The descriptor set compiled into this crate could not be loaded (a build defect).
    #[error("embedded P4Runtime descriptor set is unusable: {0}")]
    Descriptor(String),
    /// Reading the file failed.
    #[error("cannot read P4Info file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Two entities of one kind share a name or alias.
    #[error(
        "P4Info has two {kind} entities named `{name}` (ids {first:#010x} and {second:#010x})"
    )]
    DuplicateName {
        /// Entity kind.
        kind: EntityKind,
        /// The clashing name.
        name: String,
        /// Id of the first entity.
        first: u32,
        /// Id of the second entity.
        second: u32,
    },
    /// Two entities of one kind share an id.
    #[error("P4Info has two {kind} entities with id {id:#010x}")]
    DuplicateId {
        /// Entity kind.
        kind: EntityKind,
        /// The clashing id.
        id: u32,
    },
    /// An entity has no preamble or id 0.
    #[error("P4Info has a {kind} without a preamble or with id 0 (name `{name}`)")]
    MissingId {
        /// Entity kind.
        kind: EntityKind,
        /// Its name, if any.
        name: String,
    },
    /// A bit width is negative or zero where a positive width is needed.
    #[error("P4Info {kind} `{entity}` field `{field}` has invalid bit width {bitwidth}")]
    BadBitwidth {
        /// Entity kind.
        kind: EntityKind,
        /// Entity name.
        entity: String,
        /// Field or parameter name.
        field: String,
        /// The width found.
        bitwidth: i32,
    },
}

/// Match kinds of P4Info match fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// `exact`
    Exact,
    /// `lpm`
    Lpm,
    /// `ternary`
    Ternary,
    /// `range`
    Range,
    /// `optional`
    Optional,
    /// An architecture-specific kind, or unspecified.
    Other(String),
}

impl std::fmt::Display for MatchKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact => f.write_str("exact"),
            Self::Lpm => f.write_str("lpm"),
            Self::Ternary => f.write_str("ternary"),
            Self::Range => f.write_str("range"),
            Self::Optional => f.write_str("optional"),
            Self::Other(s) => write!(f, "other({s})"),
        }
    }
}

/// A name-based request does not fit the P4Info; detected before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No entity of that kind has that name (or alias).
    #[error("unknown {kind} `{name}` in the P4Info")]
    UnknownName {
        /// Entity kind looked up.
        kind: EntityKind,
        /// The name that was not found.
        name: String,
    },
    /// No entity of that kind has that id (on data received from the target).
    #[error("unknown {kind} id {id:#010x} (not in the P4Info)")]
    UnknownId {
        /// Entity kind looked up.
        kind: EntityKind,
        /// The id that was not found.
        id: u32,
    },
    /// A table has no match field of that name.
    #[error("table `{table}` has no match field `{field}`")]
    UnknownMatchField {
        /// Table name.
        table: String,
        /// Field name.
        field: String,
    },
    /// A match field was given twice.
    #[error("table `{table}` match field `{field}` is given more than once")]
    DuplicateMatchField {
        /// Table name.
        table: String,
        /// Field name.
        field: String,
    },
    /// An exact match field was omitted (exact fields cannot be wildcarded).
    #[error("table `{table}` exact match field `{field}` is missing")]
    MissingExactField {
        /// Table name.
        table: String,
        /// Field name.
        field: String,
    },
    /// The match kind given differs from the P4Info's.
    #[error("table `{table}` match field `{field}` is {expected}, not {given}")]
    WrongMatchKind {
        /// Table name.
        table: String,
        /// Field name.
        field: String,
        /// Kind declared in the P4Info.
        expected: MatchKind,
        /// Kind given by the caller.
        given: MatchKind,
    },
    /// A value does not fit the declared bit width.
    #[error("{what}: value {value} does not fit in {bitwidth} bits")]
    ValueTooWide {
        /// The field or parameter, e.g. "table `t` match field `f`".
        what: String,
        /// The value, in hex.
        value: String,
        /// Declared width.
        bitwidth: u32,
    },
    /// An LPM prefix is longer than the field.
    #[error(
        "table `{table}` match field `{field}`: prefix length {prefix_len} exceeds {bitwidth} bits"
    )]
    PrefixTooLong {
        /// Table name.
        table: String,
        /// Field name.
        field: String,
        /// Prefix length given.
        prefix_len: u32,
        /// Field width.
        bitwidth: u32,
    },
    /// Bits are set outside the LPM prefix or the ternary mask (spec §9.1.1 forbids it).
    #[error("{what}: value {value} has bits set outside mask {mask}")]
    BitsOutsideMask {
        /// The field.
        what: String,
        /// The value, in hex.
        value: String,
        /// The mask, in hex.
        mask: String,
    },
    /// A range whose low bound exceeds its high bound.
    #[error("table `{table}` match field `{field}`: range low {low} is above high {high}")]
    InvertedRange {
        /// Table name.
        table: String,
        /// Field name.
        field: String,
        /// Low bound, in hex.
        low: String,
        /// High bound, in hex.
        high: String,
    },
    /// An action has no parameter of that name.
    #[error("action `{action}` has no parameter `{param}`")]
    UnknownParam {
        /// Action name.
        action: String,
        /// Parameter name.
        param: String,
    },
    /// A parameter was given twice.
    #[error("action `{action}` parameter `{param}` is given more than once")]
    DuplicateParam {
        /// Action name.
        action: String,
        /// Parameter name.
        param: String,
    },
    /// A parameter was not given.
    #[error("action `{action}` parameter `{param}` is missing")]
    MissingParam {
        /// Action name.
        action: String,
        /// Parameter name.
        param: String,
    },
    /// The table does not list the action (or lists it only for the other scope).
    #[error("action `{action}` is not allowed {scope} of table `{table}`")]
    ActionNotAllowed {
        /// Table name.
        table: String,
        /// Action name.
        action: String,
        /// "in entries" or "as the default action".
        scope: &'static str,
    },
    /// Ternary, range and optional keys need a priority > 0; other tables need 0.
    #[error("table `{table}`: priority {priority} is invalid ({why})")]
    BadPriority {
        /// Table name.
        table: String,
        /// Priority given.
        priority: i32,
        /// Which rule is broken.
        why: &'static str,
    },
    /// The table's implementation does not match the action form used.
    #[error("table `{table}`: {why}")]
    WrongImplementation {
        /// Table name.
        table: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A default-action entry carries match fields.
    #[error("table `{table}`: a default-action entry cannot have match fields")]
    DefaultWithMatch {
        /// Table name.
        table: String,
    },
    /// The table has no direct resource of that kind.
    #[error("table `{table}` has no {kind}")]
    NoDirectResource {
        /// Table name.
        table: String,
        /// Direct counter or direct meter.
        kind: EntityKind,
    },
    /// An index outside an indexed counter/meter/register.
    #[error("{kind} `{name}` index {index} is outside 0..{size}")]
    IndexOutOfRange {
        /// Entity kind.
        kind: EntityKind,
        /// Entity name.
        name: String,
        /// Index given.
        index: i64,
        /// Declared size.
        size: i64,
    },
    /// A controller header has no field of that name.
    #[error("controller header `{header}` has no field `{field}`")]
    UnknownMetadata {
        /// Header name.
        header: String,
        /// Field name.
        field: String,
    },
    /// A received message is not shaped as the P4Info says.
    #[error("received {what} does not match the P4Info: {why}")]
    Malformed {
        /// The message.
        what: &'static str,
        /// Why.
        why: String,
    },
}

/// A failure talking to a P4Runtime target.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The target address is not a valid URI authority.
    #[error("invalid P4Runtime target `{target}`: {reason}")]
    InvalidTarget {
        /// The address given.
        target: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The TCP/HTTP2 connection could not be made.
    #[error(
        "cannot connect to P4Runtime target {target}: {}",
        crate::p4runtime::client::error_chain(source)
    )]
    Connect {
        /// The address.
        target: String,
        /// The transport error.
        source: tonic::transport::Error,
    },
    /// An RPC failed with a gRPC status.
    #[error("P4Runtime {rpc} failed: {code:?}: {message}")]
    Rpc {
        /// RPC name.
        rpc: &'static str,
        /// gRPC status code.
        code: tonic::Code,
        /// Status message.
        message: String,
    },
    /// Another client holds our election id for this role; the target refused us.
    #[error("election id {election_id} is already used by another client of device {device_id} ({message})")]
    ElectionIdInUse {
        /// Device id.
        device_id: u64,
        /// Our election id.
        election_id: u128,
        /// What the target said.
        message: String,
    },
    /// The target refused our arbitration for another reason.
    #[error("arbitration refused by device {device_id}: {code:?}: {message}")]
    ArbitrationRefused {
        /// Device id.
        device_id: u64,
        /// gRPC status code.
        code: tonic::Code,
        /// Status message.
        message: String,
    },
    /// No arbitration answer in time.
    #[error("no arbitration answer from device {device_id} within {timeout_ms} ms")]
    ArbitrationTimeout {
        /// Device id.
        device_id: u64,
        /// Timeout.
        timeout_ms: u64,
    },
    /// A write was attempted while another client is primary.
    #[error(
        "not primary for device {device_id} (our election id {election_id}, primary {primary:?})"
    )]
    NotPrimary {
        /// Device id.
        device_id: u64,
        /// Our election id.
        election_id: u128,
        /// The primary's election id, when known.
        primary: Option<u128>,
    },
    /// The stream channel is closed (target gone); reconnect.
    #[error("stream channel to device {device_id} is closed")]
    StreamClosed {
        /// Device id.
        device_id: u64,
    },
    /// No P4Info is known yet: push or fetch a pipeline first.
    #[error("no P4Info for device {device_id}: set or fetch the pipeline first")]
    NoPipeline {
        /// Device id.
        device_id: u64,
    },
    /// Reconnecting gave up.
    #[error("gave up reconnecting to {target} after {attempts} attempts: {last}")]
    ReconnectExhausted {
        /// The address.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// Last error.
        last: Box<ClientError>,
    },
    /// Some updates of a Write batch failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A name-based request does not fit the P4Info.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

impl ClientError {
    /// Wraps a gRPC status returned by `rpc`.
    pub fn rpc(rpc: &'static str, status: &tonic::Status) -> Self {
        // A status made on our side of the wire (the connection failed) carries the reason as
        // its source: a refused client certificate is only there.
        let mut message = status.message().to_string();
        if let Some(cause) = std::error::Error::source(status) {
            let chain = crate::p4runtime::client::error_chain(cause);
            if chain.starts_with(&message) {
                message = chain;
            } else if !message.contains(&chain) {
                message.push_str(": ");
                message.push_str(&chain);
            }
        }
        Self::Rpc {
            rpc,
            code: status.code(),
            message,
        }
    }
}

/// One failed update of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFailure {
    /// Position in the batch (0-based).
    pub index: usize,
    /// The operation.
    pub op: p4::update::Type,
    /// The entity, described by name when the P4Info is known.
    pub entity: String,
    /// Canonical gRPC code reported for this update.
    pub code: tonic::Code,
    /// The target's message.
    pub message: String,
}

impl std::fmt::Display for UpdateFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "update #{} {} {}: {:?}: {}",
            self.index,
            self.op.as_str_name(),
            self.entity,
            self.code,
            self.message
        )
    }
}

/// A Write RPC failed; `failures` lists the updates that did not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct WriteError {
    /// Number of updates in the batch.
    pub batch_len: usize,
    /// Overall gRPC code.
    pub code: tonic::Code,
    /// Overall message.
    pub message: String,
    /// Failed updates; empty when the target gave no per-update details.
    pub failures: Vec<UpdateFailure>,
    /// Per update: whether the target reported it applied (all false without details).
    pub applied: Vec<bool>,
}

impl WriteError {
    fn render(&self) -> String {
        let mut s = format!(
            "Write of {} updates failed ({:?}: {})",
            self.batch_len, self.code, self.message
        );
        match self.failures.first() {
            Some(first) => {
                s.push_str(&format!("; {} failed, first: {first}", self.failures.len()));
            }
            None => s.push_str("; no per-update details"),
        }
        s
    }
}
