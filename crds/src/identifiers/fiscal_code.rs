use std::fmt;
use std::str::FromStr;

/// Fiscal code of a legal entity (codice fiscale numerico, the same algorithm as the partita
/// IVA): 11 digits, the last one a Luhn-style check digit over the first ten.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityFiscalCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiscalCodeError {
    #[error("must be exactly 11 digits, got {0:?}")]
    Format(String),
    #[error("check digit is {found}, expected {expected} (a typo in the fiscal code?)")]
    CheckDigit { expected: u8, found: u8 },
}

impl EntityFiscalCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Check digit of the first ten digits: digits in odd positions count as they are, digits in
    /// even positions are doubled (minus 9 when over 9).
    fn check_digit(first_ten: &[u8]) -> u8 {
        let sum: u32 = first_ten
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let d = u32::from(*d);
                if i % 2 == 0 {
                    d
                } else if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            })
            .sum();
        ((10 - sum % 10) % 10) as u8
    }
}

impl FromStr for EntityFiscalCode {
    type Err = FiscalCodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 11 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FiscalCodeError::Format(s.chars().take(32).collect()));
        }
        let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        let expected = Self::check_digit(&digits[..10]);
        if digits[10] != expected {
            return Err(FiscalCodeError::CheckDigit {
                expected,
                found: digits[10],
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for EntityFiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_fiscal_codes_are_accepted() {
        // Comune di Modena, Regione Lombardia, Comune di Milano, Comune di Bergamo.
        for code in ["00221940364", "80050050154", "01199250158", "80034840167"] {
            assert!(code.parse::<EntityFiscalCode>().is_ok(), "{code}");
        }
    }

    #[test]
    fn a_wrong_check_digit_is_refused_with_the_expected_one() {
        assert_eq!(
            "00221940365".parse::<EntityFiscalCode>(),
            Err(FiscalCodeError::CheckDigit {
                expected: 4,
                found: 5
            })
        );
    }

    #[test]
    fn a_swap_of_two_digits_is_caught() {
        assert!("00229140364".parse::<EntityFiscalCode>().is_err());
    }

    #[test]
    fn wrong_shapes_are_refused() {
        for code in [
            "",
            "0022194036",
            "002219403640",
            "0022194036X",
            "RSSMRA80A01F257X",
            "٠٠٢٢١٩٤٠٣٦٤",
        ] {
            assert!(
                matches!(
                    code.parse::<EntityFiscalCode>(),
                    Err(FiscalCodeError::Format(_))
                ),
                "{code}"
            );
        }
    }
}
