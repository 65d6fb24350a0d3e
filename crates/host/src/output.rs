//! The component's stdout and stderr: kept in memory for tests, optionally
//! copied to the host's stderr (`serve`).

use bytes::Bytes;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How much guest output is kept; older output is dropped first.
const KEEP_BYTES: usize = 4 * 1024 * 1024;

/// One buffer shared by every instance of a host, for both stdout and stderr.
#[derive(Clone, Default)]
pub(crate) struct GuestOutput {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    buffer: Mutex<Vec<u8>>,
    forward: bool,
}

impl GuestOutput {
    pub(crate) fn new(forward_to_stderr: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                buffer: Mutex::new(Vec::new()),
                forward: forward_to_stderr,
            }),
        }
    }

    /// Everything kept so far, lossily decoded as UTF-8.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    /// Whether output is copied to the host's stderr.
    pub(crate) fn forwards(&self) -> bool {
        self.shared.forward
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // Writers never leave the buffer half-updated, so a poisoned lock is still usable.
        self.shared
            .buffer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, bytes: &[u8]) {
        if self.shared.forward {
            // Losing a log line is better than failing the guest's write.
            let _ = std::io::stderr().lock().write_all(bytes);
        }
        let mut buffer = self.lock();
        buffer.extend_from_slice(bytes);
        if buffer.len() > KEEP_BYTES {
            let excess = buffer.len() - KEEP_BYTES;
            buffer.drain(..excess);
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
