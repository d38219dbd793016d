use std::fmt;
use std::str::FromStr;

/// ISTAT code of a municipality: 3 digits of the province (or metropolitan city) and 3 of the
/// municipality within it; neither part is ever 000.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IstatCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IstatCodeError {
    #[error("must be exactly 6 digits, got {0:?}")]
    Format(String),
    #[error("{0:?} has a zero province or municipality part (000)")]
    ZeroPart(String),
}

impl IstatCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IstatCode {
    type Err = IstatCodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IstatCodeError::Format(s.chars().take(32).collect()));
        }
        if &s[..3] == "000" || &s[3..] == "000" {
            return Err(IstatCodeError::ZeroPart(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for IstatCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Cadastral (Belfiore) code: one capital letter and three digits. `Z` codes are foreign
/// countries, never a municipality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CadastralCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CadastralCodeError {
    #[error("must be one capital letter and three digits, got {0:?}")]
    Format(String),
    #[error("{0:?} is the code of a foreign country (Z...), not of a municipality")]
    Foreign(String),
}

impl CadastralCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CadastralCode {
    type Err = CadastralCodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 4 || !b[0].is_ascii_uppercase() || !b[1..].iter().all(u8::is_ascii_digit) {
            return Err(CadastralCodeError::Format(s.chars().take(32).collect()));
        }
        if b[0] == b'Z' {
            return Err(CadastralCodeError::Foreign(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_codes() {
        assert!("036023".parse::<IstatCode>().is_ok()); // Modena
        assert!("015146".parse::<IstatCode>().is_ok()); // Milano
        assert!("F257".parse::<CadastralCode>().is_ok()); // Modena
        assert!("A794".parse::<CadastralCode>().is_ok()); // Bergamo
    }

    #[test]
    fn bad_istat_codes() {
        for code in ["36023", "0360230", "03602A", "", "+36023"] {
            assert!(
                matches!(code.parse::<IstatCode>(), Err(IstatCodeError::Format(_))),
                "{code}"
            );
        }
        assert!(matches!(
            "000123".parse::<IstatCode>(),
            Err(IstatCodeError::ZeroPart(_))
        ));
        assert!(matches!(
            "036000".parse::<IstatCode>(),
            Err(IstatCodeError::ZeroPart(_))
        ));
    }

    #[test]
    fn bad_cadastral_codes() {
        for code in ["f257", "F25", "F2577", "1257", "FF57"] {
            assert!(
                matches!(
                    code.parse::<CadastralCode>(),
                    Err(CadastralCodeError::Format(_))
                ),
                "{code}"
            );
        }
        assert!(matches!(
            "Z404".parse::<CadastralCode>(),
            Err(CadastralCodeError::Foreign(_))
        ));
    }
}
