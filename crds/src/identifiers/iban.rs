use std::fmt;
use std::str::FromStr;

use iban::{Iban, IbanLike};

/// An Italian IBAN: ISO 13616 (country format and mod-97 check digits, checked by the
/// `iban_validate` crate) plus the national CIN check character over ABI, CAB and account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItalianIban(Iban);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IbanError {
    #[error("is not a valid IBAN: {0}")]
    Iso(String),
    #[error("must be an Italian IBAN (starting with IT), got country {0:?}")]
    NotItalian(String),
    #[error("national check character (CIN) is {found}, expected {expected}")]
    Cin { expected: char, found: char },
}

impl ItalianIban {
    /// The IBAN in electronic format, without spaces.
    pub fn as_str(&self) -> &str {
        self.0.electronic_str()
    }

    /// CIN of the BBAN after the CIN itself (ABI, CAB and account number, 22 characters): odd
    /// positions through the same table as the personal fiscal code's check character, even
    /// positions by their value, sum modulo 26 as a letter.
    fn cin(rest: &str) -> Option<char> {
        const ODD: [u32; 26] = [
            1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25,
            24, 23,
        ];
        let mut sum = 0;
        for (i, c) in rest.chars().enumerate() {
            let v = match c {
                '0'..='9' => c as u32 - '0' as u32,
                'A'..='Z' => c as u32 - 'A' as u32,
                _ => return None,
            };
            sum += if i % 2 == 0 { ODD[v as usize] } else { v };
        }
        char::from_u32('A' as u32 + sum % 26)
    }
}

impl FromStr for ItalianIban {
    type Err = IbanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the electronic format: a printed IBAN with spaces in a manifest is a copy-paste
        // the user should see, not something to fix silently.
        if s.contains(char::is_whitespace) {
            return Err(IbanError::Iso(
                "must not contain spaces (electronic format)".into(),
            ));
        }
        let iban: Iban = s.parse().map_err(|e| {
            IbanError::Iso(match e {
                iban::ParseIbanError::InvalidBaseIban { source } => source.to_string(),
                other => other.to_string(),
            })
        })?;
        if iban.country_code() != "IT" {
            return Err(IbanError::NotItalian(iban.country_code().to_owned()));
        }
        let bban = iban.bban_unchecked();
        let found = bban.chars().next().unwrap_or('?');
        let expected =
            Self::cin(&bban[1..]).ok_or_else(|| IbanError::Iso("bad characters".into()))?;
        if found != expected {
            return Err(IbanError::Cin { expected, found });
        }
        Ok(Self(iban))
    }
}

impl fmt::Display for ItalianIban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_italian_ibans_are_accepted() {
        // The Italian standard's example IBAN, and one at Banca d'Italia (ABI 01000) built for the examples.
        for iban in ["IT60X0542811101000000123456", "IT30O0100003245000000300001"] {
            let parsed: ItalianIban = iban.parse().unwrap_or_else(|e| panic!("{iban}: {e}"));
            assert_eq!(parsed.as_str(), iban);
        }
    }

    #[test]
    fn a_wrong_mod97_check_is_refused() {
        assert!(matches!(
            "IT61X0542811101000000123456".parse::<ItalianIban>(),
            Err(IbanError::Iso(_))
        ));
    }

    #[test]
    fn a_wrong_cin_with_right_mod97_is_refused() {
        // Y instead of X, with ISO check digits recomputed so that only the CIN is wrong.
        let bban = "Y0542811101000000123456";
        let iban = with_iso_check_digits("IT", bban);
        assert_eq!(
            iban.parse::<ItalianIban>(),
            Err(IbanError::Cin {
                expected: 'X',
                found: 'Y'
            })
        );
    }

    #[test]
    fn foreign_ibans_are_refused() {
        assert_eq!(
            "DE89370400440532013000".parse::<ItalianIban>(),
            Err(IbanError::NotItalian("DE".into()))
        );
    }

    #[test]
    fn printed_format_and_garbage_are_refused() {
        for iban in [
            "IT60 X054 2811 1010 0000 0123 456",
            "",
            "IT",
            "IT60X05428111010000001234567",
        ] {
            assert!(iban.parse::<ItalianIban>().is_err(), "{iban}");
        }
    }

    fn with_iso_check_digits(country: &str, bban: &str) -> String {
        let rearranged = format!("{bban}{country}00");
        let mut rem: u32 = 0;
        for c in rearranged.chars() {
            let v = c.to_digit(36).unwrap();
            rem = if v >= 10 {
                (rem * 100 + v) % 97
            } else {
                (rem * 10 + v) % 97
            };
        }
        format!("{country}{:02}{bban}", 98 - rem)
    }
}
