//! A container's termination message: its termination-message file, or with `FallbackToLogsOnError` the
//! tail of its log when it failed with an empty file. Pure text handling; files are read by the caller.

/// The kubelet's cap on a termination message read from the file.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Lines of log kept by `FallbackToLogsOnError`.
pub const FALLBACK_LINES: usize = 80;
/// Bytes of log kept by `FallbackToLogsOnError`.
pub const FALLBACK_BYTES: usize = 2048;

/// The message to report, from the file's content, the log's content, the policy and the exit code.
pub fn termination_message(file: &[u8], log: &[u8], policy: Option<&str>, exit_code: i32) -> Option<String> {
    let file = &file[..file.len().min(MAX_MESSAGE_BYTES)];
    if !file.is_empty() {
        return Some(String::from_utf8_lossy(file).into_owned());
    }
    if policy == Some("FallbackToLogsOnError") && exit_code != 0 {
        let tail = log_tail(log, FALLBACK_LINES, FALLBACK_BYTES);
        return (!tail.is_empty()).then(|| String::from_utf8_lossy(tail).into_owned());
    }
    None
}

/// The last `lines` lines of `log`, at most its last `max_bytes` bytes.
pub fn log_tail(log: &[u8], lines: usize, max_bytes: usize) -> &[u8] {
    let body = log.strip_suffix(b"\n").unwrap_or(log);
    let start = body.iter().rev().enumerate().filter(|(_, b)| **b == b'\n').nth(lines.saturating_sub(1));
    let start = start.map_or(0, |(from_end, _)| body.len() - from_end);
    let start = start.max(log.len().saturating_sub(max_bytes));
    &log[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_wins_and_is_capped() {
        assert_eq!(termination_message(b"done", b"log", Some("FallbackToLogsOnError"), 1).as_deref(), Some("done"));
        let big = vec![b'x'; 5000];
        assert_eq!(termination_message(&big, b"", None, 0).map(|m| m.len()), Some(MAX_MESSAGE_BYTES));
        assert_eq!(termination_message(b"", b"log\n", None, 1), None);
    }

    #[test]
    fn fallback_only_on_error_with_an_empty_file() {
        assert_eq!(termination_message(b"", b"a\nb\n", Some("FallbackToLogsOnError"), 0), None);
        assert_eq!(termination_message(b"", b"a\nb\n", Some("FallbackToLogsOnError"), 2).as_deref(), Some("a\nb\n"));
    }

    #[test]
    fn tail_by_lines_and_bytes() {
        let log: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let tail = std::str::from_utf8(log_tail(log.as_bytes(), 80, 2048)).unwrap();
        assert!(tail.starts_with("line 21\n") && tail.ends_with("line 100\n"), "{tail}");
        assert_eq!(log_tail(b"a\nb\nc", 2, 100), b"b\nc");
        assert_eq!(log_tail(b"abcdef", 80, 3), b"def");
        assert_eq!(log_tail(b"", 80, 3), b"");
    }
}
