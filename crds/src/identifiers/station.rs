use std::fmt;
use std::str::FromStr;

use super::{EntityFiscalCode, FiscalCodeError};

/// A pagoPA station id: the fiscal code of the broker that owns the station, `_`, and the
/// 2-digit number of the station, e.g. `80050050154_01`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StationId {
    broker: EntityFiscalCode,
    number: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StationIdError {
    #[error("must be <broker fiscal code>_<2 digits>, got {0:?}")]
    Format(String),
    #[error("the broker part is not a valid fiscal code: {0}")]
    Broker(FiscalCodeError),
}

impl StationId {
    pub fn broker(&self) -> &EntityFiscalCode {
        &self.broker
    }
}

impl FromStr for StationId {
    type Err = StationIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let format = || StationIdError::Format(s.chars().take(40).collect());
        let (broker, number) = s.split_once('_').ok_or_else(format)?;
        if number.len() != 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format());
        }
        let broker = broker.parse().map_err(StationIdError::Broker)?;
        Ok(Self {
            broker,
            number: number.parse().map_err(|_| format())?,
        })
    }
}

impl fmt::Display for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{:02}", self.broker, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        let s: StationId = "80050050154_01".parse().unwrap();
        assert_eq!(s.broker().as_str(), "80050050154");
        assert_eq!(s.to_string(), "80050050154_01");
    }

    #[test]
    fn refuses_bad_shapes_and_bad_brokers() {
        for s in [
            "80050050154",
            "80050050154_1",
            "80050050154_001",
            "80050050154-01",
            "_01",
        ] {
            assert!(s.parse::<StationId>().is_err(), "{s}");
        }
        assert!(matches!(
            "80050050155_01".parse::<StationId>(),
            Err(StationIdError::Broker(_))
        ));
    }
}
