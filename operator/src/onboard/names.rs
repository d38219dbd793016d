//! Tenant names from municipality names: DNS-1123 labels that are stable, the same
//! municipality always getting the same name whatever else is onboarded.
//!
//! The Italian name is folded (accents dropped, apostrophes, spaces and other signs to `-`).
//! Where two municipalities of Italy fold to the same name (Castro in Bergamo and in Lecce,
//! Paternò and Paterno), every one of them gets its province as a suffix (`castro-bg`,
//! `castro-le`): which of them was onboarded first must not decide who gets the bare name. So
//! collisions are found over the whole list, not over the rows being onboarded.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

/// The longest tenant name whose default namespace, `comune-<name>`, is still a label.
pub const MAX_NAME: usize = 63 - "comune-".len();

/// The Italian name folded to a DNS-1123 label: lower case ASCII letters, digits and single
/// dashes, at most `max` characters.
pub fn fold(italian_name: &str, max: usize) -> String {
    let mut folded = String::with_capacity(italian_name.len());
    for c in italian_name.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue; // the accent of a decomposed letter
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            folded.push(c);
        } else if !folded.ends_with('-') {
            folded.push('-'); // spaces, apostrophes, slashes, dots, letters without ASCII form
        }
    }
    let mut label: String = folded.trim_matches('-').chars().take(max).collect();
    while label.ends_with('-') {
        label.pop();
    }
    label
}

/// One municipality as the names are decided: its ISTAT code, Italian name and province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Municipality<'a> {
    pub istat_code: &'a str,
    pub italian_name: &'a str,
    pub province: &'a str,
}

/// The tenant name of every municipality of `all` (the whole list), by ISTAT code.
pub fn tenant_names(all: &[Municipality<'_>]) -> HashMap<String, String> {
    let mut bearers: HashMap<String, usize> = HashMap::new();
    for m in all {
        *bearers.entry(fold(m.italian_name, MAX_NAME)).or_default() += 1;
    }
    all.iter()
        .map(|m| {
            let bare = fold(m.italian_name, MAX_NAME);
            let name = if bearers[&bare] > 1 {
                let province = fold(m.province, 3);
                let base = fold(m.italian_name, MAX_NAME - province.len() - 1);
                format!("{base}-{province}")
            } else {
                bare
            };
            (m.istat_code.to_owned(), name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn italian_names_fold_to_labels() {
        assert_eq!(fold("Agliè", MAX_NAME), "aglie");
        assert_eq!(fold("Cassano d'Adda", MAX_NAME), "cassano-d-adda");
        assert_eq!(
            fold("Sant'Angelo Lodigiano", MAX_NAME),
            "sant-angelo-lodigiano"
        );
        assert_eq!(fold("Forlì", MAX_NAME), "forli");
        assert_eq!(fold("Nardò", MAX_NAME), "nardo");
        assert_eq!(fold("L'Aquila", MAX_NAME), "l-aquila");
        assert_eq!(fold("Reggio nell'Emilia", MAX_NAME), "reggio-nell-emilia");
        assert_eq!(fold("  Ne'  ", MAX_NAME), "ne");
        assert_eq!(fold("Bolzano", MAX_NAME), "bolzano");
        let long = fold(
            "San Valentino in Abruzzo Citeriore e dintorni molto lontani davvero",
            MAX_NAME,
        );
        assert!(long.len() <= MAX_NAME && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn every_bearer_of_a_shared_name_gets_its_province() {
        let all = [
            Municipality {
                istat_code: "016070",
                italian_name: "Castro",
                province: "BG",
            },
            Municipality {
                istat_code: "075096",
                italian_name: "Castro",
                province: "LE",
            },
            Municipality {
                istat_code: "087033",
                italian_name: "Paternò",
                province: "CT",
            },
            Municipality {
                istat_code: "076058",
                italian_name: "Paterno",
                province: "PZ",
            },
            Municipality {
                istat_code: "036023",
                italian_name: "Modena",
                province: "MO",
            },
        ];
        let names = tenant_names(&all);
        assert_eq!(names["016070"], "castro-bg");
        assert_eq!(names["075096"], "castro-le");
        assert_eq!(names["087033"], "paterno-ct");
        assert_eq!(names["076058"], "paterno-pz");
        assert_eq!(names["036023"], "modena");
    }
}
