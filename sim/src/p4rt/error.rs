//! The error of one entity operation, carrying its canonical gRPC code (P4Runtime spec §12: the
//! per-update `p4.v1.Error` of a batch, or the status of a single-entity RPC).

use prescient_southbound::p4runtime::proto::google::rpc::Code;

/// An entity operation refused, with the code a P4Runtime server must return and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str_name())]
pub struct EntityError {
    /// Canonical code (`google.rpc.Code`).
    pub code: Code,
    /// Which entity, which field, which value, and why.
    pub message: String,
}

impl EntityError {
    /// An error with `code`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    /// INVALID_ARGUMENT.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }
    /// NOT_FOUND.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }
    /// ALREADY_EXISTS.
    pub fn exists(message: impl Into<String>) -> Self {
        Self::new(Code::AlreadyExists, message)
    }
    /// RESOURCE_EXHAUSTED.
    pub fn exhausted(message: impl Into<String>) -> Self {
        Self::new(Code::ResourceExhausted, message)
    }
    /// UNIMPLEMENTED.
    pub fn unimplemented(message: impl Into<String>) -> Self {
        Self::new(Code::Unimplemented, message)
    }
    /// FAILED_PRECONDITION.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, message)
    }

    /// The gRPC status for a whole RPC failing with this error.
    pub fn to_status(&self) -> tonic::Status {
        tonic::Status::new(
            tonic::Code::from_i32(self.code as i32),
            self.message.clone(),
        )
    }
}
