//! Prometheus counters for `/metrics`, on an explicit registry (no global state, so hubs started
//! side by side in tests keep their own figures).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub struct Metrics {
    registry: Registry,
    pub messages_stored: Counter,
    pub deliveries: Counter,
    pub frame_errors: Counter,
    pub slow_consumers: Counter,
    pub agent_connections: Gauge,
    pub observer_connections: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("orochi");
        let messages_stored = Counter::default();
        let deliveries = Counter::default();
        let frame_errors = Counter::default();
        let slow_consumers = Counter::default();
        let agent_connections = Gauge::default();
        let observer_connections = Gauge::default();
        registry.register("messages_stored", "Messages committed to the store", messages_stored.clone());
        registry.register("deliveries", "Frames queued to recipients (agents and observers)", deliveries.clone());
        registry.register("frame_errors", "Incoming frames answered with an error", frame_errors.clone());
        registry.register("slow_consumers", "Connections cut because their queue was full", slow_consumers.clone());
        registry.register("agent_connections", "Open agent sockets", agent_connections.clone());
        registry.register("observer_connections", "Open observer sockets", observer_connections.clone());
        Metrics {
            registry,
            messages_stored,
            deliveries,
            frame_errors,
            slow_consumers,
            agent_connections,
            observer_connections,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
