use chrono::{SecondsFormat, Timelike, Utc};

/// The current UTC time in Python's `isoformat()` form: `2026-04-22T12:34:56.789012+00:00`,
/// microseconds omitted when zero. History `since` filters compare these strings, so the
/// format must match the reference exactly.
pub fn now_ts() -> String {
    let now = Utc::now();
    if now.nanosecond() / 1000 == 0 {
        now.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        now.to_rfc3339_opts(SecondsFormat::Micros, false)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn python_isoformat() {
        let ts = super::now_ts();
        assert!(ts.ends_with("+00:00"), "{ts}");
        assert!(ts.len() == 32 || ts.len() == 25, "{ts}");
        assert_eq!(&ts[10..11], "T");
    }
}
