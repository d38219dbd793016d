use std::fmt;
use std::str::FromStr;

/// Id of a service on the IO app, as the IO back office assigns it: a ULID, 26 characters of
/// Crockford's base32 (digits and capitals without I, L, O, U), the first at most `7` so that
/// it fits 128 bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IoServiceId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoServiceIdError {
    #[error("must be a ULID of 26 characters, got {0} characters")]
    Length(usize),
    #[error("{0:?} is not a Crockford base32 character (digits and capitals without I, L, O, U)")]
    Character(char),
    #[error("a ULID starts with 0 to 7, got {0:?}")]
    Overflow(char),
}

impl IoServiceId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IoServiceId {
    type Err = IoServiceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = s.chars().count();
        if n != 26 {
            return Err(IoServiceIdError::Length(n));
        }
        if let Some(c) = s.chars().find(|c| {
            !(c.is_ascii_digit() || c.is_ascii_uppercase()) || matches!(c, 'I' | 'L' | 'O' | 'U')
        }) {
            return Err(IoServiceIdError::Character(c));
        }
        let first = s.chars().next().unwrap_or('0');
        if first > '7' {
            return Err(IoServiceIdError::Overflow(first));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for IoServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_accepted() {
        assert!("01EYNQ0864HKYR1Q9PXPJ18W7G".parse::<IoServiceId>().is_ok());
        assert!("01ARZ3NDEKTSV4RRFFQ69G5FAV".parse::<IoServiceId>().is_ok());
    }

    #[test]
    fn other_shapes_are_refused() {
        assert_eq!(
            "01EYNQ".parse::<IoServiceId>(),
            Err(IoServiceIdError::Length(6))
        );
        assert_eq!(
            "01EYNQ0864HKYR1Q9PXPJ18W7I".parse::<IoServiceId>(),
            Err(IoServiceIdError::Character('I'))
        );
        assert_eq!(
            "01eynq0864hkyr1q9pxpj18w7g".parse::<IoServiceId>(),
            Err(IoServiceIdError::Character('e'))
        );
        assert_eq!(
            "81EYNQ0864HKYR1Q9PXPJ18W7G".parse::<IoServiceId>(),
            Err(IoServiceIdError::Overflow('8'))
        );
    }
}
