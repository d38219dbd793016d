//! What is allowed but probably not meant: admitted, and said (by the webhook as admission
//! warnings, by `municipio validate` on standard error).

use super::*;

/// A field whose value is admitted but looks wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWarning {
    pub path: FieldPath,
    pub message: String,
}

impl fmt::Display for FieldWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The attributes CIE's identity provider releases (the Ministry of the Interior's CIE id
/// specification, italia/cie-eid-saml-docs): a service that needs more gets them from SPID only.
const CIE_ATTRIBUTES: [SpidAttribute; 4] = [
    SpidAttribute::Name,
    SpidAttribute::FamilyName,
    SpidAttribute::FiscalNumber,
    SpidAttribute::DateOfBirth,
];

/// The warnings of a valid tenant.
pub fn warnings(tenant: &ValidTenant) -> Vec<FieldWarning> {
    let mut out = Vec::new();
    let Some(identity) = &tenant.identity else {
        return out;
    };
    if let Some(cadastral) = &tenant.municipality.cadastral_code {
        let usual = format!("c_{}", cadastral.as_str().to_ascii_lowercase());
        if identity.ipa_code != usual {
            out.push(FieldWarning {
                path: FieldPath::new("spec.municipality.ipaCode"),
                message: format!(
                    "{:?} is not {usual:?}, the IPA code of most municipalities (c_ and the cadastral code); some differ: check it in the IPA index, since it names the municipality at the gateway and in the federations",
                    identity.ipa_code
                ),
            });
        }
    }
    let name = &tenant.municipality.name;
    if name.chars().count() > 64 {
        out.push(FieldWarning {
            path: FieldPath::new("spec.municipality.name"),
            message: format!(
                "{} characters: the SAML certificate's organization holds 64, so it carries {:?} (its IPA code still names the municipality exactly)",
                name.chars().count(),
                name.chars().take(64).collect::<String>()
            ),
        });
    }
    if identity.methods.contains(&LoginMethod::Cie) {
        for (i, attribute) in identity.attributes.iter().enumerate() {
            if !CIE_ATTRIBUTES.contains(attribute) {
                out.push(FieldWarning {
                    path: FieldPath::new("spec.identity.attributes").index(i),
                    message: format!(
                        "CIE does not release {}: citizens who log in with CIE will not have it (CIE releases name, familyName, fiscalNumber and dateOfBirth)",
                        attribute.name()
                    ),
                });
            }
        }
    }
    out
}
