//! Consumer spans: one span per delivered event, a child of the span that wrote the event.
//!
//! A relay delivers events in batches, and each event of a batch may belong to another
//! trace, so the server span of the delivery call cannot be their parent. The consumer
//! handler calls [`start_consumer_spans`] before it applies a batch. Each event then gets a
//! `CONSUMER` span whose parent is the event's `traceparent`, linked to the delivery call's
//! span, and the event's `traceparent` is replaced with the consumer span's own. Events that
//! the consumer writes while it applies the batch copy that value, so the trace continues
//! into the next service.

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status as SpanStatus, Tracer as _};
use opentelemetry_sdk::trace::Span;

use leadflow_proto::events::{ActivityEvent, QualificationEvent, ScoringEvent};

use super::{TraceParent, trace};

/// An event that carries a W3C trace context.
pub trait TracedEvent {
    /// Returns the event id.
    fn event_id(&self) -> &str;
    /// Returns the lead id.
    fn lead_id(&self) -> &str;
    /// Returns the event's `traceparent` for replacement.
    fn traceparent_mut(&mut self) -> &mut String;
}

macro_rules! traced_event {
    ($($event:ty),+) => {$(
        impl TracedEvent for $event {
            fn event_id(&self) -> &str {
                &self.event_id
            }
            fn lead_id(&self) -> &str {
                &self.lead_id
            }
            fn traceparent_mut(&mut self) -> &mut String {
                &mut self.traceparent
            }
        }
    )+};
}

traced_event!(ActivityEvent, ScoringEvent, QualificationEvent);

/// The consumer spans of one batch. Dropping it without [`ConsumerSpans::finish`] ends the
/// spans with an error status, because the batch was not applied.
#[derive(Default)]
pub struct ConsumerSpans {
    spans: Vec<Span>,
    finished: bool,
}

impl ConsumerSpans {
    /// Ends the spans of a batch that was applied and committed.
    pub fn finish(mut self) {
        self.finished = true;
        for span in &mut self.spans {
            span.end();
        }
    }
}

impl Drop for ConsumerSpans {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        for span in &mut self.spans {
            span.set_status(SpanStatus::error("the batch was not applied"));
            span.end();
        }
    }
}

/// Starts a consumer span per event of a batch that `destination` (for example `scoring`)
/// received, and points each event's `traceparent` at its span. Does nothing when tracing
/// is off or outside a service.
pub fn start_consumer_spans<E: TracedEvent>(destination: &'static str, events: &mut [E]) -> ConsumerSpans {
    let Some(telemetry) = super::current() else {
        return ConsumerSpans::default();
    };
    let Some(tracer) = telemetry.tracer() else {
        return ConsumerSpans::default();
    };
    let delivery = super::layer::current_request().and_then(|ids| ids.span_context);

    let mut spans = Vec::with_capacity(events.len());
    for event in events.iter_mut() {
        let parent = trace::parent_context(event.traceparent_mut());
        let mut builder = tracer
            .tracer()
            .span_builder(format!("process {destination}"))
            .with_kind(SpanKind::Consumer)
            .with_attributes([
                KeyValue::new("messaging.operation.type", "process"),
                KeyValue::new("messaging.destination.name", destination),
                KeyValue::new("messaging.message.id", event.event_id().to_owned()),
                KeyValue::new("leadflow.lead_id", event.lead_id().to_owned()),
            ]);
        if let Some(delivery) = &delivery {
            builder = builder.with_links(vec![opentelemetry::trace::Link::with_context(delivery.clone())]);
        }
        let span = builder.start_with_context(tracer.tracer(), &parent);

        if let Some(own) = TraceParent::from_span_context(span.span_context()) {
            *event.traceparent_mut() = own.to_string();
        }
        spans.push(span);
    }
    ConsumerSpans { spans, finished: false }
}
