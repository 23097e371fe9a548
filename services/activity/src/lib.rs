//! The activity service: stores leads and what they do, and sends every change to the
//! scoring service through its outbox.
//!
//! Reading order: [`server`] wires the gRPC services, [`api`] decodes and validates requests,
//! [`domain`] holds the rules without I/O, [`store`] reads and writes the database, and
//! [`migration`] creates its tables.

#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod domain;
pub mod erasure;
pub mod events;
pub mod fuzzing;
pub mod migration;
pub mod server;
pub mod store;

pub use server::{migrate, run, run_with_faults, serve};

/// Error domain of this service in `google.rpc.ErrorInfo`.
pub const DOMAIN: &str = "activity.leadflow";
