//! `finconnect-host up`'s start-up banner: it prints the API key only when
//! it is the sandbox's own local key, never one the user set.
//!
//! Runs the real binary with the built component (`FINCONNECT_WASM`, default
//! `target/wasm32-wasip2/release/finconnect.wasm`), on loopback ports the
//! system picks, and stops it once the banner is out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const USER_KEY: &str = "merchant-key-from-the-user-7c41";
const KEY_VARIABLE: &str = "SPIN_VARIABLE_FINCONNECT_API_KEY";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wasm() -> PathBuf {
    let path = std::env::var_os("FINCONNECT_WASM").map_or_else(
        || workspace().join("target/wasm32-wasip2/release/finconnect.wasm"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "the component {} is missing: run the tests with `cargo xtask test`, or build it with \
         `cargo xtask build` and set FINCONNECT_WASM",
        path.display()
    );
    path
}

/// Starts `finconnect-host up ARGS` in an empty directory (so no `.env` is
/// read), with `key` as SPIN_VARIABLE_FINCONNECT_API_KEY, and returns what it
/// printed on stdout up to the end of its banner.
fn banner(args: &[&str], key: Option<&str>) -> String {
    let dir = std::env::temp_dir().join(format!(
        "finconnect-up-banner-{}-{}",
        std::process::id(),
        key.is_some()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_finconnect-host"));
    command
        .arg("up")
        .args(args)
        .args(["--addr", "127.0.0.1:0", "--wasm"])
        .arg(wasm())
        .arg("--manifest")
        .arg(workspace().join("spin.toml"))
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    match key {
        Some(key) => command.env(KEY_VARIABLE, key),
        None => command.env_remove(KEY_VARIABLE),
    };
    let mut child = command.spawn().expect("cannot start finconnect-host");
    let mut text = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.contains("Ctrl-C stops.") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(text.contains("Ctrl-C stops."), "no banner:\n{text}");
    text
}

#[test]
fn a_key_the_user_set_is_never_printed() {
    for args in [&["--sandbox"][..], &[]] {
        let text = banner(args, Some(USER_KEY));
        assert!(
            !text.contains(USER_KEY),
            "{args:?}: the banner shows the key:\n{text}"
        );
        assert!(text.contains("not printed"), "{args:?}:\n{text}");
    }
    // The curl lines read it from the shell instead.
    let text = banner(&["--sandbox"], Some(USER_KEY));
    assert!(text.contains("Bearer $FINCONNECT_API_KEY"), "{text}");
}

#[test]
fn the_sandbox_local_key_is_printed_for_the_curl_lines() {
    let text = banner(&["--sandbox"], None);
    assert!(text.contains("  API key: finconnect-local-key\n"), "{text}");
    assert!(text.contains("Bearer finconnect-local-key"), "{text}");
}
