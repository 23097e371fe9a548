//! W3C trace context and the OpenTelemetry tracer of one service.
//!
//! A `traceparent` value is `00-<trace id, 32 hex>-<parent span id, 16 hex>-<flags, 2 hex>`
//! (W3C Trace Context Level 1). It travels in gRPC metadata and in the `traceparent` field of
//! every event, so the spans of one activity share a trace across the outbox.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider};

/// A parsed `traceparent`: the trace, the parent span and whether it is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// Trace id, never all zeros.
    pub trace_id: TraceId,
    /// Span id of the parent, never all zeros.
    pub span_id: SpanId,
    /// The sampled flag.
    pub sampled: bool,
}

impl TraceParent {
    /// Parses a `traceparent` value. Returns `None` for a malformed value, version `ff` and
    /// all-zero ids, which the specification says to ignore. Versions above `00` are read by
    /// their first four fields, as the specification asks.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let mut fields = value.split('-');
        let version = fields.next()?;
        let trace_id = fields.next()?;
        let span_id = fields.next()?;
        let flags = fields.next()?;
        let extra = fields.next();

        let is_hex = |field: &str, len: usize| {
            field.len() == len && field.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !is_hex(version, 2) || version == "ff" || !is_hex(trace_id, 32) || !is_hex(span_id, 16) || !is_hex(flags, 2) {
            return None;
        }
        if version == "00" && extra.is_some() {
            return None;
        }

        let trace_id = TraceId::from_hex(trace_id).ok()?;
        let span_id = SpanId::from_hex(span_id).ok()?;
        if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    /// Reads the trace context of a span.
    pub fn from_span_context(context: &SpanContext) -> Option<Self> {
        context.is_valid().then(|| Self {
            trace_id: context.trace_id(),
            span_id: context.span_id(),
            sampled: context.is_sampled(),
        })
    }

    /// Returns the context in which a span with this remote parent starts.
    pub fn to_parent_context(self) -> Context {
        let flags = if self.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        let span_context = SpanContext::new(self.trace_id, self.span_id, flags, true, TraceState::default());
        Context::new().with_remote_span_context(span_context)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let flags = if self.sampled { "01" } else { "00" };
        write!(f, "00-{}-{}-{flags}", self.trace_id, self.span_id)
    }
}

/// Returns the context in which a span whose parent is `traceparent` starts: a remote parent,
/// or an empty context (a new trace) when the value is empty or malformed.
pub fn parent_context(traceparent: &str) -> Context {
    TraceParent::parse(traceparent).map(TraceParent::to_parent_context).unwrap_or_default()
}

/// The tracer provider of one service, with its own `service.name`, and its tracer.
#[derive(Clone, Debug)]
pub struct ServiceTracer {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl ServiceTracer {
    /// Creates a tracer whose spans a batch processor exports to the OTLP/gRPC `endpoint`.
    pub fn otlp(service_name: &'static str, endpoint: &str, settings: &super::TelemetrySettings) -> anyhow::Result<Self> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(settings.otlp_timeout())
            .build()
            .map_err(|error| anyhow::anyhow!("failed to create the OTLP exporter for {endpoint}: {error}"))?;
        let mut batch = BatchConfigBuilder::default();
        if let Some(interval) = settings.otlp_export_interval() {
            batch = batch.with_scheduled_delay(interval);
        }
        let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batch.build()).build();
        let provider = SdkTracerProvider::builder()
            .with_resource(Self::resource(service_name))
            .with_span_processor(processor)
            .build();
        Ok(Self::from_provider(provider))
    }

    /// Wraps a provider built elsewhere, for example with an in-memory exporter.
    pub fn from_provider(provider: SdkTracerProvider) -> Self {
        use opentelemetry::trace::TracerProvider as _;

        let tracer = provider.tracer("leadflow");
        Self { provider, tracer }
    }

    /// Returns the resource that names the service in every span it exports.
    pub fn resource(service_name: &'static str) -> Resource {
        Resource::builder_empty()
            .with_service_name(service_name)
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// Returns the tracer.
    pub fn tracer(&self) -> &SdkTracer {
        &self.tracer
    }

    /// Exports the buffered spans and stops the provider; blocks until done.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(error = %error, "failed to flush spans at shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_round_trips() {
        let parsed = TraceParent::parse(VALUE).expect("valid traceparent");
        assert!(parsed.sampled);
        assert_eq!(parsed.to_string(), VALUE);
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for value in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn later_versions_read_first_fields() {
        let value = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future";
        let parsed = TraceParent::parse(value).expect("readable");
        assert!(!parsed.sampled);
    }
}
