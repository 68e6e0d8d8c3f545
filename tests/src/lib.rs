//! Shared helpers for the workspace integration tests (service fixtures, namespaces, waiting).
