//! The one error type of the session layer: who is at fault and with which switch.

use std::time::Duration;

use thiserror::Error;

use crate::openflow::wire::{DatapathId, ErrorKind, WireError, Xid};

/// Why a session operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// No session with this datapath id is connected (never was, or it went down).
    #[error("switch {dpid} is not connected")]
    NotConnected {
        /// The switch asked for.
        dpid: DatapathId,
    },
    /// The session ended before the request was answered.
    #[error("switch {dpid}: session closed before request {xid} was answered")]
    Closed {
        /// The switch.
        dpid: DatapathId,
        /// The unanswered request.
        xid: Xid,
    },
    /// The switch did not answer within the per-request timeout.
    #[error("switch {dpid}: request {xid} ({what}) not answered within {timeout:?}")]
    Timeout {
        /// The switch.
        dpid: DatapathId,
        /// The unanswered request.
        xid: Xid,
        /// Which request.
        what: &'static str,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The switch answered the request with an OpenFlow ERROR.
    #[error("switch {dpid}: request {xid} refused with {kind}")]
    Refused {
        /// The switch.
        dpid: DatapathId,
        /// The refused request.
        xid: Xid,
        /// Error type and code the switch sent.
        kind: ErrorKind,
    },
    /// The switch answered with bytes that do not parse.
    #[error("switch {dpid}: malformed reply to {xid}: {source}")]
    MalformedReply {
        /// The switch.
        dpid: DatapathId,
        /// The request.
        xid: Xid,
        /// What the codec found wrong.
        source: WireError,
    },
    /// The switch answered with a message of an unexpected type.
    #[error("switch {dpid}: request {xid} answered with unexpected {got}")]
    UnexpectedReply {
        /// The switch.
        dpid: DatapathId,
        /// The request.
        xid: Xid,
        /// Spec name of what arrived.
        got: &'static str,
    },
    /// A command could not be encoded (e.g. longer than the 16-bit length field allows).
    #[error("switch {dpid}: cannot encode {what}: {source}")]
    Encode {
        /// The switch.
        dpid: DatapathId,
        /// Which command.
        what: &'static str,
        /// Why.
        source: WireError,
    },
    /// The listener could not be started.
    #[error("cannot listen for OpenFlow on {addr}: {reason}")]
    Bind {
        /// Address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        reason: String,
    },
    /// A session thread could not be started.
    #[error("cannot start an OpenFlow session thread: {reason}")]
    Runtime {
        /// The operating system's reason.
        reason: String,
    },
    /// The controller is shutting down.
    #[error("the OpenFlow controller is shutting down")]
    ShuttingDown,
}

/// Why a session ended (reported with the switch-down event).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CloseReason {
    /// The switch closed the TCP connection.
    #[error("switch closed the connection")]
    PeerClosed,
    /// Nothing arrived within the dead-peer timeout, echo requests included.
    #[error("no message for {0:?} (echo keepalive failed)")]
    DeadPeer(Duration),
    /// The handshake did not finish in time.
    #[error("handshake not finished within {0:?}")]
    HandshakeTimeout(Duration),
    /// The peer does not speak OpenFlow 1.3.
    #[error("peer offers no OpenFlow 1.3 (HELLO version {0:#04x})")]
    VersionMismatch(u8),
    /// The byte stream cannot be framed any more.
    #[error("unframeable input: {0}")]
    Framing(WireError),
    /// A new connection of the same datapath id replaced this one.
    #[error("replaced by a new connection of the same datapath id")]
    Replaced,
    /// The controller is shutting down or closed the session on request.
    #[error("closed by the controller")]
    Shutdown,
    /// Reading or writing the socket failed.
    #[error("I/O error: {0}")]
    Io(String),
}
