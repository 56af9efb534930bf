//! Rendering an exception's frames as a JavaScript-style stack, bounded in length.

use std::fmt::Write as _;

use super::MAX_STACK_BYTES;
use super::payload::Frame;
use super::source_map::SourceMaps;
use super::text::Text;

/// Bytes kept of a frame's file URL.
const MAX_FILE_BYTES: usize = 256;

/// Frames as `  at function (file:line:column)` lines, each resolved through `maps` when a
/// map for its script is loaded. Stops before [`MAX_STACK_BYTES`] and says how many frames
/// were left out.
pub(crate) fn render(frames: &[Frame], maps: &SourceMaps, text: &Text<'_>) -> String {
    let mut out = String::new();
    for (i, frame) in frames.iter().enumerate() {
        let function = frame.function.as_deref().unwrap_or("?");
        let file = frame.filename.as_deref().unwrap_or("?");
        let line = frame.lineno.as_ref().and_then(|v| v.as_u64());
        let column = frame.colno.as_ref().and_then(|v| v.as_u64());
        let original = match (line, column) {
            (Some(line), Some(column)) if !maps.is_empty() => maps.resolve(file, line, column),
            _ => None,
        };
        let mut one = String::new();
        if let Some(o) = original {
            let _ = writeln!(
                one,
                "  at {} ({}:{}:{})",
                text.short(o.name.unwrap_or(function)),
                text.clean_to(o.source, MAX_FILE_BYTES),
                o.line,
                o.column
            );
        } else {
            let _ = write!(
                one,
                "  at {} ({}",
                text.short(function),
                text.clean_to(file, MAX_FILE_BYTES)
            );
            for n in [line, column].into_iter().flatten() {
                let _ = write!(one, ":{n}");
            }
            one.push_str(")\n");
        }
        // Room for the summary line is kept, so the total never passes the limit.
        if out.len() + one.len() > MAX_STACK_BYTES - 32 {
            let _ = writeln!(out, "  … {} more", frames.len() - i);
            return out;
        }
        out.push_str(&one);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::limits::Scalar;
    use super::super::redact::Redactions;
    use super::*;

    #[test]
    fn stacks_render_as_text() {
        let frames = vec![
            Frame {
                filename: Some("https://h/app.js".into()),
                function: Some("onClick".into()),
                lineno: Some(Scalar::Number(12.into())),
                colno: Some(Scalar::Number(7.into())),
            },
            Frame::default(),
        ];
        let r = Redactions::none();
        assert_eq!(
            render(&frames, &SourceMaps::default(), &Text::new(2048, &r)),
            "  at onClick (https://h/app.js:12:7)\n  at ? (?)\n"
        );
    }

    #[test]
    fn long_stacks_stop_at_the_byte_limit() {
        let frame = Frame {
            filename: Some(format!("https://h/{}.js", "f".repeat(10_000))),
            function: Some("g".repeat(10_000)),
            lineno: None,
            colno: None,
        };
        let frames: Vec<Frame> = (0..50)
            .map(|_| Frame {
                filename: frame.filename.clone(),
                function: frame.function.clone(),
                ..Frame::default()
            })
            .collect();
        let r = Redactions::none();
        let stack = render(&frames, &SourceMaps::default(), &Text::new(2048, &r));
        assert!(stack.len() <= MAX_STACK_BYTES, "{}", stack.len());
        // Each frame is 128 + 256 bytes of names plus punctuation: ten fit in 4 KiB.
        assert_eq!(stack.lines().count(), 11);
        assert!(stack.ends_with("  … 40 more\n"), "{stack}");
    }
}
