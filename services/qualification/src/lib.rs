//! The qualification service: the MQL queue where marketing hands leads to sales, the BANT
//! acceptance, rejections and closes, and the funnel report. It consumes the scoring
//! service's events and sends every state change to scoring and activity through its outbox.
//!
//! Reading order: [`server`] wires the gRPC services. [`api`] decodes and validates requests,
//! and [`admin`] does so for reps, assignment, overdue leads and settings. [`domain`],
//! [`framework`], [`assignment`] and [`settings`] contain the rules without I/O. [`events`]
//! applies and writes events, and [`sla`] escalates missed first-touch deadlines. [`report`]
//! computes the funnel's stage times and SLA figures. [`store`] reads and writes the database,
//! and [`migration`] creates its tables. [`clock`] gives each request its time.

#![forbid(unsafe_code)]

pub mod access;
pub mod admin;
pub mod api;
pub mod assignment;
pub mod clock;
pub mod domain;
pub mod erasure;
pub mod events;
pub mod framework;
pub mod identity;
pub mod migration;
pub mod report;
pub mod server;
pub mod settings;
pub mod sla;
pub mod store;

pub use server::{migrate, run, serve};

/// Error domain of this service in `google.rpc.ErrorInfo`.
pub const DOMAIN: &str = "qualification.leadflow";
