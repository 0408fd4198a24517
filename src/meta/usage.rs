//! Parsing of Meta's usage headers (reference 8.2): `X-App-Usage`, `X-Business-Use-Case-Usage`
//! and `X-Ad-Account-Usage`. Tolerant by design: duplicate object keys are merged, numbers may
//! be integers, decimals or numeric strings, unknown types and keys are ignored, and a header
//! that does not parse is skipped (its absence means nothing).

use std::fmt;
use std::time::Duration;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// One `X-Business-Use-Case-Usage` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct BucUsage {
    /// The business object (business, ad account, Page…) the entry counts.
    pub object_id: String,
    pub kind: Option<String>,
    /// max(call_count, total_cputime, total_time), percent.
    pub usage: f64,
    /// `estimated_time_to_regain_access` (minutes on the wire), when > 0.
    pub regain_after: Option<Duration>,
}

/// `X-Ad-Account-Usage`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdAccountUsage {
    pub usage: f64,
    pub reset_after: Option<Duration>,
}

/// Everything the usage headers of one response said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageReport {
    /// `X-App-Usage`: max of its percentages.
    pub app: Option<f64>,
    pub business: Vec<BucUsage>,
    pub ad_account: Option<AdAccountUsage>,
}

impl UsageReport {
    pub fn from_headers(h: &reqwest::header::HeaderMap) -> UsageReport {
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
        UsageReport {
            app: get("x-app-usage").and_then(parse_app_usage),
            business: get("x-business-use-case-usage")
                .map(parse_buc_usage)
                .unwrap_or_default(),
            ad_account: get("x-ad-account-usage").and_then(parse_ad_account_usage),
        }
    }

    /// The longest regain estimate in the business entries.
    pub fn longest_regain(&self) -> Option<Duration> {
        self.business.iter().filter_map(|b| b.regain_after).max()
    }
}

/// The longest wait a usage header is believed about (Meta's longest documented block is the
/// 24 h invitation limit): absurd values (`1e300`, huge integers) are clamped to it instead of
/// overflowing `Duration`/`Instant` arithmetic.
pub const MAX_HEADER_WAIT: Duration = Duration::from_secs(24 * 3600);

/// A wait of `secs` seconds from a header: `None` unless finite and positive, clamped to
/// [`MAX_HEADER_WAIT`].
fn wait_secs(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs.min(MAX_HEADER_WAIT.as_secs_f64())).ok()
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|f| f.is_finite() && *f >= 0.0)
}

fn max_of(obj: &serde_json::Map<String, Value>, keys: &[&str]) -> Option<f64> {
    keys.iter()
        .filter_map(|k| obj.get(*k).and_then(num))
        .fold(None, |acc, x| Some(acc.map_or(x, |a: f64| a.max(x))))
}

pub fn parse_app_usage(raw: &str) -> Option<f64> {
    let v: Value = serde_json::from_str(raw).ok()?;
    max_of(
        v.as_object()?,
        &["call_count", "total_time", "total_cputime"],
    )
}

pub fn parse_ad_account_usage(raw: &str) -> Option<AdAccountUsage> {
    let v: Value = serde_json::from_str(raw).ok()?;
    let o = v.as_object()?;
    Some(AdAccountUsage {
        usage: o.get("acc_id_util_pct").and_then(num)?,
        reset_after: o
            .get("reset_time_duration")
            .and_then(num)
            .and_then(wait_secs),
    })
}

/// A JSON object kept as its entries in order, duplicate keys included.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

pub fn parse_buc_usage(raw: &str) -> Vec<BucUsage> {
    let Ok(Entries(entries)) = serde_json::from_str::<Entries>(raw) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (object_id, value) in entries {
        let items: Vec<&Value> = match &value {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![&value],
            _ => continue,
        };
        for item in items {
            let Some(o) = item.as_object() else { continue };
            let Some(usage) = max_of(o, &["call_count", "total_cputime", "total_time"]) else {
                continue;
            };
            out.push(BucUsage {
                object_id: object_id.clone(),
                kind: o.get("type").and_then(Value::as_str).map(str::to_string),
                usage,
                regain_after: o
                    .get("estimated_time_to_regain_access")
                    .and_then(num)
                    // Clamp before converting: minutes × 60 must not overflow to infinity.
                    .and_then(|m| wait_secs(m.min(MAX_HEADER_WAIT.as_secs_f64()) * 60.0)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_merged_and_decimals_accepted() {
        let raw = r#"{"5550001":[{"type":"pages","call_count":95,"total_cputime":20,"total_time":20,"estimated_time_to_regain_access":0}],
                     "5550001":[{"type":"ads_management","call_count":12.5,"total_cputime":"99","total_time":1,"estimated_time_to_regain_access":1.5}],
                     "3001":[{"type":"some_new_type","call_count":100,"extra":{"x":1}}]}"#;
        let u = parse_buc_usage(raw);
        assert_eq!(u.len(), 3);
        assert_eq!(u[0].usage, 95.0);
        assert_eq!(u[1].usage, 99.0);
        assert_eq!(u[1].regain_after, Some(Duration::from_secs(90)));
        assert_eq!(u[2].kind.as_deref(), Some("some_new_type"));
    }

    #[test]
    fn absurd_waits_are_clamped_or_ignored_never_panic() {
        let day = Some(MAX_HEADER_WAIT);
        for (raw, want) in [
            ("1e300", day),
            ("\"1e300\"", day),
            ("18446744073709551616", day),
            ("99999999999999999999999999", day),
            ("1.7976931348623157e308", day),
            ("-1", None),
            ("\"-1\"", None),
            ("\"NaN\"", None),
            ("\"nan\"", None),
            ("\"inf\"", None),
            ("\"-inf\"", None),
            ("0", None),
            ("2", Some(Duration::from_secs(120))),
        ] {
            let buc = format!(
                r#"{{"1":[{{"type":"pages","call_count":100,"estimated_time_to_regain_access":{raw}}}]}}"#
            );
            let u = parse_buc_usage(&buc);
            assert_eq!(u.first().and_then(|e| e.regain_after), want, "buc {raw}");
            let ad = format!(r#"{{"acc_id_util_pct": 100, "reset_time_duration": {raw}}}"#);
            let want_ad = want.map(|w| if w == MAX_HEADER_WAIT { w } else { w / 60 });
            assert_eq!(
                parse_ad_account_usage(&ad).and_then(|a| a.reset_after),
                want_ad,
                "ad {raw}"
            );
        }
        // Usage percentages that are not finite are dropped like any garbage.
        assert_eq!(parse_app_usage(r#"{"call_count": "NaN"}"#), None);
        assert_eq!(parse_app_usage(r#"{"call_count": 1e300}"#), Some(1e300));
    }

    #[test]
    fn garbage_headers_are_ignored() {
        assert!(parse_buc_usage("not json").is_empty());
        assert!(parse_buc_usage("[1,2]").is_empty());
        assert_eq!(parse_app_usage("{\"call_count\": -3}"), None);
        assert_eq!(
            parse_app_usage("{\"call_count\": 28, \"total_time\": 30.5}"),
            Some(30.5)
        );
        let ad = parse_ad_account_usage(r#"{"acc_id_util_pct": 9.67, "reset_time_duration": 100}"#);
        assert_eq!(
            ad.map(|a| a.reset_after),
            Some(Some(Duration::from_secs(100)))
        );
    }
}
