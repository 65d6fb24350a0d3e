//! Which `wasi:*` imports a component calls, and how often.
//!
//! wasmtime's generated bindings for `wasi:http`, `wasi:io`, `wasi:clocks`,
//! `wasi:random` and `wasi:cli` open a tracing span for every call of an
//! import, naming its interface (`module`) and its function. An
//! [`ImportCounter`] is a tracing subscriber that counts those spans and
//! does nothing else: it prints nothing and reads no argument or result.
//! Without a subscriber the spans cost next to nothing.
//!
//! Under `spin up` every import call costs more than a function call (its
//! wasmtime makes a task of each), so the count of a request's imports is a
//! figure that a noisy machine does not blur. The host's own imports are
//! counted by the host instead: `wasi:config` by
//! [`Host::variable_reads`](crate::Host::variable_reads), `wasi:keyvalue` by
//! [`Host::key_value_op_counts`](crate::Host::key_value_op_counts).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Import calls by name: `"<interface> <function>"` (for example
/// `"streams [method]input-stream.blocking-read"`) → calls.
pub type ImportCounts = BTreeMap<String, u64>;

/// Counts the import calls made while it is the process's tracing
/// subscriber.
#[derive(Clone, Debug, Default)]
pub struct ImportCounter {
    counts: Arc<Mutex<ImportCounts>>,
}

impl ImportCounter {
    /// A counter that has counted nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes this counter the subscriber of every thread, for good: a
    /// host runs its guests on its runtime's threads, not the caller's.
    /// False, and nothing counted, when the process has a global
    /// subscriber already. Everything the process calls is counted, so
    /// take [`snapshot`](Self::snapshot)s around one request at a time.
    pub fn install_globally(&self) -> bool {
        tracing::subscriber::set_global_default(self.clone()).is_ok()
    }

    /// Every call counted so far.
    pub fn snapshot(&self) -> ImportCounts {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The calls counted in `now` and not yet in `earlier`.
pub fn since(now: &ImportCounts, earlier: &ImportCounts) -> ImportCounts {
    now.iter()
        .map(|(name, n)| {
            let before = earlier.get(name).copied().unwrap_or(0);
            (name.clone(), n.saturating_sub(before))
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The `module` and `function` fields of a span.
#[derive(Default)]
struct Names {
    module: Option<String>,
    function: Option<String>,
}

impl Visit for Names {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "module" => self.module = Some(value.to_owned()),
            "function" => self.function = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if matches!(field.name(), "module" | "function") {
            self.record_str(field, format!("{value:?}").trim_matches('"'));
        }
    }
}

impl Subscriber for ImportCounter {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_span()
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut names = Names::default();
        attributes.record(&mut names);
        if let (Some(module), Some(function)) = (names.module, names.function) {
            *self
                .counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(format!("{module} {function}"))
                .or_default() += 1;
        }
        // Spans are only counted, never looked up: one id serves them all.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
