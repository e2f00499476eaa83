//! Plugin output (WASI stdout/stderr and `log` calls) forwarded to `tracing`,
//! tagged with rule and plugin, and bounded per call.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use tracing::Level;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::safe_text::escape_controls;

/// Bytes of output (stdout, stderr and log messages together) one call may
/// send to the log; the rest is dropped and counted.
pub const OUTPUT_LIMIT_PER_CALL: usize = 64 * 1024;
/// Bytes of stderr kept to explain a trap (a Rust panic message).
const STDERR_TAIL: usize = 1024;
/// Write permit given to the guest per `check-write`.
const WRITE_PERMIT: usize = 16 * 1024;
/// `tracing` target of every plugin output event.
pub const LOG_TARGET: &str = "trailmark::plugin";

/// Which stream a guest wrote to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// The output of one instance; cheap to clone (shared state).
#[derive(Clone)]
pub(crate) struct Output {
    state: Arc<Mutex<OutputState>>,
}

struct OutputState {
    rule: Arc<str>,
    plugin: Arc<str>,
    remaining: usize,
    dropped: u64,
    stdout_line: Vec<u8>,
    stderr_line: Vec<u8>,
    stderr_tail: Vec<u8>,
}

impl Output {
    /// Output of an instance serving `rule` with `plugin`.
    pub(crate) fn new(rule: Arc<str>, plugin: Arc<str>) -> Output {
        Output {
            state: Arc::new(Mutex::new(OutputState {
                rule,
                plugin,
                remaining: OUTPUT_LIMIT_PER_CALL,
                dropped: 0,
                stdout_line: Vec::new(),
                stderr_line: Vec::new(),
                stderr_tail: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutputState> {
        // Logging never panics while holding the lock; recover the data anyway.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a call: a fresh budget.
    pub(crate) fn begin_call(&self) {
        let mut state = self.lock();
        state.remaining = OUTPUT_LIMIT_PER_CALL;
        state.dropped = 0;
        state.stderr_tail.clear();
    }

    /// Ends a call: logs unterminated lines and what was dropped.
    pub(crate) fn end_call(&self) {
        let mut state = self.lock();
        let truncated = state.dropped > 0;
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(state.line(stream));
            if !line.is_empty() {
                state.emit_stream_line(stream, &line, truncated);
            }
        }
        if truncated {
            tracing::warn!(
                target: LOG_TARGET,
                rule = %state.rule,
                plugin = %state.plugin,
                dropped_bytes = state.dropped,
                limit_bytes = OUTPUT_LIMIT_PER_CALL,
                "plugin output truncated: {} bytes over the per-call limit of {} bytes were dropped",
                state.dropped,
                OUTPUT_LIMIT_PER_CALL
            );
        }
    }

    /// The last bytes the guest wrote to stderr in this call, as text.
    pub(crate) fn stderr_tail(&self) -> String {
        let state = self.lock();
        String::from_utf8_lossy(&state.stderr_tail)
            .trim()
            .to_owned()
    }

    /// Takes guest bytes written to `stream`.
    pub(crate) fn write(&self, stream: Stream, bytes: &[u8]) {
        let mut state = self.lock();
        if stream == Stream::Stderr {
            keep_tail(&mut state.stderr_tail, bytes);
        }
        let accepted = bytes.len().min(state.remaining);
        state.remaining -= accepted;
        state.dropped += (bytes.len() - accepted) as u64;
        // Emit every complete line; keep the unterminated rest. Only the new
        // bytes are scanned: a flood past the budget costs nothing per write.
        let mut rest = &bytes[..accepted];
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(state.line(stream));
            line.extend_from_slice(&rest[..newline]);
            state.emit_stream_line(stream, &line, false);
            rest = &rest[newline + 1..];
        }
        state.line(stream).extend_from_slice(rest);
    }

    /// Logs a `log.write` call from the guest.
    pub(crate) fn log(&self, level: Level, message: &str) {
        let mut state = self.lock();
        if state.remaining == 0 {
            state.dropped += message.len() as u64;
            return;
        }
        let mut end = message.len().min(state.remaining);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        state.remaining -= end;
        let truncated = end < message.len();
        state.dropped += (message.len() - end) as u64;
        state.emit(level, "log", &message[..end], truncated);
    }
}

impl OutputState {
    fn line(&mut self, stream: Stream) -> &mut Vec<u8> {
        match stream {
            Stream::Stdout => &mut self.stdout_line,
            Stream::Stderr => &mut self.stderr_line,
        }
    }

    fn emit_stream_line(&self, stream: Stream, line: &[u8], truncated: bool) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        match stream {
            Stream::Stdout => self.emit(Level::INFO, "stdout", text, truncated),
            Stream::Stderr => self.emit(Level::WARN, "stderr", text, truncated),
        }
    }

    fn emit(&self, level: Level, source: &'static str, text: &str, truncated: bool) {
        let rule = &*self.rule;
        let plugin = &*self.plugin;
        // A newline or escape in plugin text must not start a forged line.
        let text = escape_controls(text);
        // tracing needs the level at compile time: one arm per level.
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: LOG_TARGET,
                    $level,
                    rule = %rule,
                    plugin = %plugin,
                    source,
                    truncated,
                    "{}{}",
                    text,
                    if truncated { " [truncated]" } else { "" }
                )
            };
        }
        match level {
            Level::ERROR => event!(Level::ERROR),
            Level::WARN => event!(Level::WARN),
            Level::INFO => event!(Level::INFO),
            Level::DEBUG => event!(Level::DEBUG),
            _ => event!(Level::TRACE),
        }
    }
}

fn keep_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() >= STDERR_TAIL {
        tail.clear();
        tail.extend_from_slice(&bytes[bytes.len() - STDERR_TAIL..]);
    } else {
        let overflow = (tail.len() + bytes.len()).saturating_sub(STDERR_TAIL);
        tail.drain(..overflow);
        tail.extend_from_slice(bytes);
    }
}

/// A guest stdout or stderr that writes into an [`Output`].
pub(crate) struct CapturedStream {
    output: Output,
    stream: Stream,
}

impl CapturedStream {
    pub(crate) fn new(output: Output, stream: Stream) -> CapturedStream {
        CapturedStream { output, stream }
    }
}

impl IsTerminal for CapturedStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(CapturedWriter {
            output: self.output.clone(),
            stream: self.stream,
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(CapturedWriter {
            output: self.output.clone(),
            stream: self.stream,
        })
    }
}

/// One guest handle to a captured stream. Always ready; never fails: output
/// past the budget is dropped, not refused, so a chatty plugin keeps running.
struct CapturedWriter {
    output: Output,
    stream: Stream,
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.output.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedWriter {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.output.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_shared_and_reset_per_call() {
        let output = Output::new("r".into(), "p".into());
        output.begin_call();
        output.write(Stream::Stdout, &vec![b'x'; OUTPUT_LIMIT_PER_CALL + 10]);
        output.log(Level::INFO, "dropped entirely");
        {
            let state = output.lock();
            assert_eq!(state.remaining, 0);
            assert_eq!(state.dropped, 10 + 16);
            assert_eq!(state.stdout_line.len(), OUTPUT_LIMIT_PER_CALL);
        }
        output.end_call();
        output.begin_call();
        output.write(Stream::Stdout, b"hello\nwor");
        let state = output.lock();
        assert_eq!(state.remaining, OUTPUT_LIMIT_PER_CALL - 9);
        assert_eq!(state.stdout_line, b"wor");
        assert_eq!(state.dropped, 0);
    }

    #[test]
    fn stderr_tail_keeps_the_last_bytes() {
        let output = Output::new("r".into(), "p".into());
        output.write(Stream::Stderr, &vec![b'a'; 5000]);
        output.write(Stream::Stderr, b"panicked at the end");
        let tail = output.stderr_tail();
        assert!(tail.ends_with("panicked at the end"));
        assert_eq!(tail.len(), STDERR_TAIL);
    }

    #[test]
    fn log_messages_are_cut_at_char_boundaries() {
        let output = Output::new("r".into(), "p".into());
        output.write(Stream::Stdout, &vec![b'x'; OUTPUT_LIMIT_PER_CALL - 1]);
        output.log(Level::WARN, "é");
        let state = output.lock();
        assert_eq!(state.remaining, 1);
        assert_eq!(state.dropped, 2);
    }
}
