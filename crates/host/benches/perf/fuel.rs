//! `cargo xtask bench --fuel`: the guest's work per request, counted in fuel.
//!
//! Wasmtime charges about one unit of fuel per WebAssembly operator, so the
//! fuel an instance uses is the guest's own work, the same from one run to
//! the next whatever the machine's load (host calls and what the host does
//! for them are not in it). Each request goes through the component's HTTP
//! handler in this process, a fresh instance each, and its fuel is read from
//! the host (`Host::fuel_used`) before and after. The process must run with
//! `FINCONNECT_HOST_FUEL=1` (xtask sets it): every engine then counts fuel,
//! which slows the guest, so this mode times nothing.

use super::{API_KEY, Sandbox, SandboxConfig, host_builder, pay_in_process, register_ipn};
use anyhow::{Context as _, bail};
use finconnect_host::Host;
use std::path::Path;

/// Requests counted per row, after one uncounted warm-up.
const REQUESTS: usize = 50;

pub(super) fn run(wasm: &Path, baseline: Option<&Path>) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxConfig::default())?;
    let mut builds = vec![("component", wasm)];
    if let Some(baseline) = baseline {
        builds.push(("baseline (FINCONNECT_WASM_BASELINE)", baseline));
    }
    println!();
    println!(
        "Guest work per request, in fuel (about one unit per WebAssembly operator; \
         median, lowest and highest of {REQUESTS} requests, each in a fresh instance)"
    );
    println!();
    println!("| build | request | median | lowest | highest |");
    println!("|---|---|---|---|---|");
    for (label, file) in builds {
        let off = host_builder(file, &sandbox, true, None)
            .app_variable("finconnect_ledger", "off")
            .build()
            .with_context(|| format!("cannot build the host for {}", file.display()))?;
        let on = host_builder(file, &sandbox, true, None)
            .build()
            .with_context(|| format!("cannot build the host for {}", file.display()))?;
        let ipn_id = register_ipn(&on)?;
        let tag = std::process::id();
        let rows = [
            (
                "PesaPal pay, finconnect_ledger = off",
                count(&off, |n| {
                    pay_in_process(&off, &format!("FUELO{tag}-{n}"), &ipn_id).map(drop)
                })?,
            ),
            (
                "first PesaPal pay, the ledger in memory",
                count(&on, |n| {
                    pay_in_process(&on, &format!("FUELF{tag}-{n}"), &ipn_id).map(drop)
                })?,
            ),
            (
                "replayed pay (its first pay uncounted)",
                count_after(
                    &on,
                    |n| pay_in_process(&on, &format!("FUELR{tag}-{n}"), &ipn_id).map(drop),
                    |n| replay(&on, &format!("FUELR{tag}-{n}"), &ipn_id),
                )?,
            ),
            (
                "GET /nope (404, no provider call)",
                count(&on, |_| expect_status(&on, get("/nope")?, 404))?,
            ),
            (
                "POST /payments with a bad amount (422, no provider call)",
                count(&on, |_| expect_status(&on, bad_amount()?, 422))?,
            ),
        ];
        for (what, fuel) in rows {
            println!(
                "| {label} | {what} | {} | {} | {} |",
                fuel.median, fuel.lowest, fuel.highest
            );
        }
    }
    Ok(())
}

/// Fuel of [`REQUESTS`] requests.
struct Fuel {
    median: u64,
    lowest: u64,
    highest: u64,
}

fn used(host: &Host) -> anyhow::Result<u64> {
    host.fuel_used().context(
        "the host counts no fuel: run this mode through `cargo xtask bench --fuel` \
         (it sets FINCONNECT_HOST_FUEL=1)",
    )
}

/// Sends `request(n)` once uncounted, then [`REQUESTS`] times counted.
fn count(host: &Host, request: impl FnMut(usize) -> anyhow::Result<()>) -> anyhow::Result<Fuel> {
    count_after(host, |_| Ok(()), request)
}

/// Like [`count`], with `first(n)` sent uncounted before each counted
/// `request(n)`.
fn count_after(
    host: &Host,
    mut first: impl FnMut(usize) -> anyhow::Result<()>,
    mut request: impl FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<Fuel> {
    first(0)?;
    request(0)?;
    let mut fuel = Vec::with_capacity(REQUESTS);
    for n in 1..=REQUESTS {
        first(n)?;
        let before = used(host)?;
        request(n)?;
        fuel.push(used(host)? - before);
    }
    fuel.sort_unstable();
    Ok(Fuel {
        median: fuel[REQUESTS / 2],
        lowest: fuel[0],
        highest: fuel[REQUESTS - 1],
    })
}

/// The same pay again: answered from the ledger.
fn replay(host: &Host, reference: &str, ipn_id: &str) -> anyhow::Result<()> {
    let response = pay_in_process(host, reference, ipn_id)?;
    if response
        .headers()
        .get("idempotent-replayed")
        .is_none_or(|value| value != "true")
    {
        bail!("the second pay of {reference} was not a replay");
    }
    Ok(())
}

fn get(path: &str) -> anyhow::Result<http::Request<Vec<u8>>> {
    Ok(http::Request::get(path)
        .header(http::header::AUTHORIZATION, format!("Bearer {API_KEY}"))
        .body(Vec::new())?)
}

fn bad_amount() -> anyhow::Result<http::Request<Vec<u8>>> {
    let body = br#"{"provider":"pesapal","amount":"x"}"#.to_vec();
    Ok(http::Request::post("/payments")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, format!("Bearer {API_KEY}"))
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)?)
}

fn expect_status(host: &Host, request: http::Request<Vec<u8>>, status: u16) -> anyhow::Result<()> {
    let response = finconnect_host::block_on(host.handle(request))??;
    if response.status().as_u16() != status {
        bail!(
            "expected HTTP {status}, got {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        );
    }
    Ok(())
}
