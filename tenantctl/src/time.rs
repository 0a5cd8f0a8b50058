//! Durations and timestamps as people and Kubernetes write them: Go-style durations on the
//! command line (`8760h`, `30d`), short durations in messages, RFC 3339 in records and reports.

use std::time::{Duration, SystemTime};

use k8s_openapi::jiff;

/// Parses Go-style durations (`8760h`, `1h30m`, `8760h0m0s`) plus days (`365d`) and weeks
/// (`2w`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (examples: 8760h, 365d, 1h30m)");
    if s.starts_with('-') {
        return Err(format!("{s:?} is negative; a duration must be positive"));
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(secs)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    if total == 0 {
        return Err(format!("{s:?} is zero; a validity must be positive"));
    }
    Ok(Duration::from_secs(total))
}

/// A duration where `0` (or `0s`) is allowed: "do not wait", "never expire".
pub fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    if s.trim_end_matches('s') == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

/// `30d`, `12h`, `90m`, `45s`.
pub fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 86_400 {
        format!("{}d{}h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else if s >= 3600 {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{s}s")
    }
}

/// RFC 3339 in UTC, whole seconds (`2026-11-24T19:30:00Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    jiff::Timestamp::from_second(secs)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| format!("@{secs}"))
}

/// Parses an RFC 3339 time.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let ts: jiff::Timestamp = s.parse().ok()?;
    Some(SystemTime::from(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_durations_are_refused_by_their_own_check() {
        let err = parse_duration("-5h").unwrap_err();
        assert_eq!(err, "\"-5h\" is negative; a duration must be positive");
        assert!(parse_duration_or_zero("-0s").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("8760h").unwrap(),
            Duration::from_secs(8760 * 3600)
        );
        assert_eq!(
            parse_duration("365d").unwrap(),
            Duration::from_secs(8760 * 3600)
        );
        assert_eq!(
            parse_duration("8760h0m0s").unwrap(),
            Duration::from_secs(8760 * 3600)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        for bad in ["", "h", "10", "10y", "-1h", "0h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_round_trip() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_549_800);
        let s = rfc3339(t);
        assert_eq!(s, "2026-11-24T19:50:00Z");
        assert_eq!(parse_rfc3339(&s), Some(t));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
