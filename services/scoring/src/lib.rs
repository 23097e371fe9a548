//! The scoring service: keeps the scoring model and every lead's score, and hands leads whose
//! score crosses the threshold to the qualification service.
//!
//! Scores change only through events from the activity service. Each change is a ledger
//! entry with its rule, model version, points and the score before and after, so a score
//! always equals the sum of its ledger and can be explained.
//!
//! Reading order: [`server`] → [`api`] → [`engine`] (consuming events) → [`domain`] (rules
//! without I/O) → [`store`] → [`migration`].

#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod domain;
pub mod engine;
pub mod erasure;
pub mod identity;
pub mod migration;
pub mod quality;
pub mod server;
pub mod store;

pub use server::{migrate, run, serve};

/// Error domain of this service in `google.rpc.ErrorInfo`.
pub const DOMAIN: &str = "scoring.leadflow";
