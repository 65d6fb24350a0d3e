//! The `wasi:*` imports the built component calls, counted in the project's
//! host (`finconnect_host::imports`). Under `spin up` each import call costs
//! more than a function call, so these tests hold a request to the calls it
//! needs. The counter is the process's tracing subscriber and counts every
//! request, so this file is its own test binary and its tests take turns.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_host::imports::{self, ImportCounter, ImportCounts};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The process's counter, and a lock so that one test counts at a time.
fn counter() -> (&'static ImportCounter, std::sync::MutexGuard<'static, ()>) {
    static COUNTER: OnceLock<ImportCounter> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let counter = COUNTER.get_or_init(|| {
        let counter = ImportCounter::new();
        assert!(
            counter.install_globally(),
            "another tracing subscriber is installed"
        );
        counter
    });
    (counter, TURN.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The imports `send` called (its request is answered, and the guest is
/// done, when `send` returns: the host waits for the guest to finish).
fn imports_of(counter: &ImportCounter, send: impl FnOnce()) -> ImportCounts {
    let before = counter.snapshot();
    send();
    imports::since(&counter.snapshot(), &before)
}

const BLOCKING_READ: &str = "streams [method]input-stream.blocking-read";

/// A request body that declares its length is read to that length and no
/// further, and so are the provider's replies: a pay whose body declares
/// its length reads each of its three bodies (its own, the token reply,
/// the order reply) once; the same pay without the length reads its own
/// body twice, the second read finding the end. And the pay reads the
/// wall clock once for its start, which also dates what it does.
#[test]
fn a_pay_reads_each_body_and_the_wall_clock_once() {
    let (_sandbox, host) = start_with(Default::default(), |b| {
        b.app_variable("finconnect_ledger", "off")
    });
    let ipn_id = register_pesapal_ipn(&host);
    let (counter, _turn) = counter();
    let imports_of_a_pay = |reference: &str, declare_length: bool| {
        let body = serde_json::to_vec(&pesapal_body(reference, &ipn_id)).unwrap();
        let mut request = finconnect_host::http::Request::post("/payments")
            .header("authorization", format!("Bearer {API_KEY}"))
            .header("content-type", "application/json");
        if declare_length {
            request = request.header("content-length", body.len());
        }
        let request = request.body(body).unwrap();
        imports_of(counter, || {
            let reply = send(&host, request);
            assert_eq!(reply.status, 201, "{reply}");
        })
    };
    let calls = |imports: &ImportCounts, name: &str| imports.get(name).copied().unwrap_or(0);
    let declared = imports_of_a_pay("LEN-1", true);
    assert_eq!(calls(&declared, BLOCKING_READ), 3, "{declared:?}");
    assert_eq!(calls(&declared, "wall-clock now"), 1, "{declared:?}");
    let undeclared = imports_of_a_pay("LEN-2", false);
    assert_eq!(calls(&undeclared, BLOCKING_READ), 4, "{undeclared:?}");
}
