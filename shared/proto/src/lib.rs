//! Generated code of the Leadflow contracts (`proto/leadflow/**`), one module per protobuf
//! package, and the encoded file descriptor set that the reflection services publish.
//!
//! The generated code refers to other packages by relative paths, so the modules mirror the
//! package names (`leadflow::activity::v1`); the short aliases below are what the services use.

#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]

/// Encoded `google.protobuf.FileDescriptorSet` of every Leadflow contract.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/leadflow_descriptor.bin"));

/// The protobuf packages, nested as their names are.
pub mod leadflow {
    /// Package `leadflow.type.v1`.
    pub mod r#type {
        /// Shared value types: activity types, outcomes, qualification states, score reasons.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/leadflow.r#type.v1.rs"));
        }
    }

    /// Package `leadflow.events.v1`.
    pub mod events {
        /// Events that services exchange through their outboxes.
        pub mod v1 {
            tonic::include_proto!("leadflow.events.v1");
        }
    }

    /// Package `leadflow.activity.v1`.
    pub mod activity {
        /// The activity service: leads and their activities.
        pub mod v1 {
            tonic::include_proto!("leadflow.activity.v1");
        }
    }

    /// Package `leadflow.scoring.v1`.
    pub mod scoring {
        /// The scoring service: scoring models and lead scores.
        pub mod v1 {
            tonic::include_proto!("leadflow.scoring.v1");
        }
    }

    /// Package `leadflow.qualification.v1`.
    pub mod qualification {
        /// The qualification service: the MQL queue, BANT and the funnel.
        pub mod v1 {
            tonic::include_proto!("leadflow.qualification.v1");
        }
    }
}

pub use leadflow::activity::v1 as activity;
pub use leadflow::events::v1 as events;
pub use leadflow::qualification::v1 as qualification;
pub use leadflow::r#type::v1 as types;
pub use leadflow::scoring::v1 as scoring;
