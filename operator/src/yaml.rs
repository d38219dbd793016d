//! YAML for people and for every YAML parser. `serde_yaml_ng` writes YAML 1.2, where
//! `80050050154_01` is a string; YAML 1.1 parsers (go-yaml v2 behind kubectl, PyYAML) read the
//! same unquoted text as the integer 8005005015401. Here a string is written plain only when
//! no YAML version can read it as anything else; otherwise it is double-quoted, with JSON
//! escapes (a JSON string is a valid YAML double-quoted scalar).

use serde_json::Value;

/// A block-style YAML document for a JSON value.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (k, v) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&string(k));
        out.push(':');
        write_child(out, v, indent);
    }
}

fn write_seq(out: &mut String, seq: &[Value], indent: usize) {
    for v in seq {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match v {
            // A map in a list starts on the dash's line.
            Value::Object(m) if !m.is_empty() => {
                let mut inner = String::new();
                write_map(&mut inner, m, indent + 2);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            other => write_child(out, other, indent),
        }
    }
}

fn write_child(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, indent);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => string(s),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

/// Plain when unambiguous, double-quoted otherwise.
fn string(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        serde_json::to_string(s).expect("a string serializes")
    }
}

/// Conservative: starts with a letter, continues with letters, digits and `-._/`, is not a
/// YAML 1.1 boolean or null, and does not look like a number in any base or notation.
fn is_plain_safe(s: &str) -> bool {
    const RESERVED: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "infinity",
    ];
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    first_ok
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/".contains(c))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ambiguous_strings_are_quoted() {
        let v = json!({"station": "80050050154_01", "code": "00221940364", "flag": "on", "n": "1e3", "ok": "comune-modena", "digest": "sha256:ab"});
        let y = to_yaml(&v);
        assert!(y.contains("station: \"80050050154_01\"\n"), "{y}");
        assert!(y.contains("code: \"00221940364\"\n"), "{y}");
        assert!(y.contains("flag: \"on\"\n"), "{y}");
        assert!(
            y.contains("\"n\": \"1e3\"\n"),
            "keys too: n is a YAML 1.1 boolean: {y}"
        );
        assert!(y.contains("ok: comune-modena\n"), "{y}");
        assert!(y.contains("digest: \"sha256:ab\"\n"), "{y}");
    }

    #[test]
    fn reads_back_to_the_same_value() {
        let v = json!({
            "apiVersion": "v1", "kind": "X",
            "metadata": {"labels": {"a/b": "c"}, "empty": {}},
            "spec": {"list": [{"a": 1, "b": [1, 2], "c": {"d": "x\ny"}}, "s", [], {}], "none": [], "t": true, "n": null}
        });
        let back: Value = serde_yaml_ng::from_str(&to_yaml(&v)).unwrap();
        assert_eq!(back, v);
    }
}
