//! Log lines kept in memory, for tests that read back what a subscriber wrote.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

/// Everything written through [`LogCapture::writer`], kept in memory. Clones share the buffer.
///
/// `writer()` is a `tracing_subscriber` `MakeWriter` (any `Fn() -> impl io::Write` is), so it
/// goes wherever a subscriber or `obs_core::TelemetryBuilder::log_writer` takes one.
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// A `MakeWriter`: each writer it makes appends to this capture.
    pub fn writer(&self) -> impl Fn() -> LogWriter + Send + Sync + 'static {
        let buffer = Arc::clone(&self.0);
        move || LogWriter(Arc::clone(&buffer))
    }

    /// Everything written so far, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    /// The lines written so far, each parsed as JSON.
    ///
    /// # Panics
    /// When a line is not JSON: the message has the line.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"))
            })
            .collect()
    }
}

/// The writer a [`LogCapture`] hands out.
#[derive(Debug)]
pub struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn writers_append_to_the_shared_buffer() {
        let capture = LogCapture::default();
        let make = capture.writer();
        make().write_all(b"{\"a\":1}\n").unwrap();
        make().write_all(b"{\"b\":2}\n").unwrap();
        assert_eq!(capture.clone().lines(), ["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(capture.json_lines()[1]["b"], 2);
    }
}
