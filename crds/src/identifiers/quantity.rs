use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

// The Kubernetes quantity grammar (k8s.io/apimachinery/pkg/api/resource).
static QUANTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
        .expect("valid regex")
});

/// A Kubernetes quantity that is not negative, with its value in base units (cores, bytes), so
/// that requests and limits can be compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    text: String,
    value: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error(
        "{0:?} is not a Kubernetes quantity (a number with an optional suffix such as m, Mi, Gi)"
    )]
    Format(String),
    #[error("{0:?} is negative")]
    Negative(String),
}

impl Quantity {
    /// The value in base units: cores for CPU, bytes for memory.
    pub fn value(&self) -> f64 {
        self.value
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let caps = QUANTITY
            .captures(s)
            .ok_or_else(|| QuantityError::Format(s.chars().take(32).collect()))?;
        let number: f64 = caps[2]
            .parse()
            .map_err(|_| QuantityError::Format(s.to_owned()))?;
        let multiplier = match caps.get(3).map(|m| m.as_str()) {
            None => 1.0,
            Some("m") => 1e-3,
            Some("k") => 1e3,
            Some("M") => 1e6,
            Some("G") => 1e9,
            Some("T") => 1e12,
            Some("P") => 1e15,
            Some("E") => 1e18,
            Some("Ki") => 1024.0,
            Some("Mi") => 1024f64.powi(2),
            Some("Gi") => 1024f64.powi(3),
            Some("Ti") => 1024f64.powi(4),
            Some("Pi") => 1024f64.powi(5),
            Some("Ei") => 1024f64.powi(6),
            Some(exp) => 10f64.powi(
                exp[1..]
                    .parse::<i32>()
                    .map_err(|_| QuantityError::Format(s.to_owned()))?,
            ),
        };
        // Zero stays zero whatever the exponent (0 x 10^400 would be NaN in floating point);
        // a huge exponent is +infinity, which every upper bound refuses.
        let value = if number == 0.0 {
            0.0
        } else {
            number * multiplier
        };
        if &caps[1] == "-" && value != 0.0 {
            return Err(QuantityError::Negative(s.to_owned()));
        }
        Ok(Self {
            text: s.to_owned(),
            value,
        })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> f64 {
        s.parse::<Quantity>().unwrap().value()
    }

    #[test]
    fn values_in_base_units() {
        assert_eq!(v("100m"), 0.1);
        assert_eq!(v("8"), 8.0);
        assert_eq!(v("1.5"), 1.5);
        assert_eq!(v("128Mi"), 128.0 * 1024.0 * 1024.0);
        assert_eq!(v("1G"), 1e9);
        assert_eq!(v("1e3"), 1000.0);
        assert_eq!(v("0e400"), 0.0);
        assert_eq!(v("1e400"), f64::INFINITY);
    }

    #[test]
    fn bad_quantities() {
        for bad in ["", "abc", "1 Gi", "1gi", "1GB", "--1", "1.2.3", "Mi"] {
            assert!(
                matches!(bad.parse::<Quantity>(), Err(QuantityError::Format(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            "-1".parse::<Quantity>(),
            Err(QuantityError::Negative(_))
        ));
    }
}
