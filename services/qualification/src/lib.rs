//! The qualification service: the MQL queue where marketing hands leads to sales, the BANT
//! acceptance, rejections and closes, and the funnel report. It consumes the scoring
//! service's events and sends every state change to scoring and activity through its outbox.
//!
//! Reading order: [`server`] wires the gRPC services, [`api`] decodes and validates requests,
//! [`domain`] contains the rules without I/O, [`events`] applies and writes events, [`store`]
//! reads and writes the database, and [`migration`] creates its tables.

#![forbid(unsafe_code)]

pub mod api;
pub mod domain;
pub mod events;
pub mod migration;
pub mod server;
pub mod store;

pub use server::{migrate, run, serve};

/// Error domain of this service in `google.rpc.ErrorInfo`.
pub const DOMAIN: &str = "qualification.leadflow";
