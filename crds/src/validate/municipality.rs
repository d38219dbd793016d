//! `spec.municipality`: the ISTAT, cadastral and fiscal codes of the municipality, and their agreement.

use super::*;

pub(super) fn municipality(
    p: &mut Problems,
    tenant: &MunicipalityTenant,
    path: &FieldPath,
) -> Option<ValidMunicipality> {
    let m = &tenant.spec.municipality;
    let before = p.0.len();
    if m.name.trim().is_empty() {
        p.push(path.child("name"), Problem::Required("(a display name)"));
    } else if m.name.chars().any(char::is_control) {
        p.push(
            path.child("name"),
            Problem::Forbidden("control characters (newlines, tabs) in a display name"),
        );
    }
    let istat_code = p.parse_opt(path.child("istatCode"), Some(&m.istat_code));
    let cadastral_code = p.parse_opt(path.child("cadastralCode"), m.cadastral_code.as_deref());
    let fiscal_code =
        p.parse_opt::<EntityFiscalCode>(path.child("fiscalCode"), m.fiscal_code.as_deref());
    let enabled = |c: Option<bool>| c.unwrap_or(false);
    let needs_fiscal_code = enabled(tenant.spec.pagopa.as_ref().map(|c| c.enabled))
        || enabled(tenant.spec.io.as_ref().map(|c| c.enabled));
    if m.fiscal_code.is_none() && needs_fiscal_code {
        p.push(
            path.child("fiscalCode"),
            Problem::Required("when pagopa or io is enabled"),
        );
    }
    let alphanumeric =
        |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if let Some(ipa) = &m.ipa_code
        && (ipa.is_empty()
            || ipa.len() > 20
            || !ipa
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            // It becomes a label value, which starts and ends with a letter or digit.
            || !alphanumeric(ipa.bytes().next())
            || !alphanumeric(ipa.bytes().last()))
    {
        p.push(
            path.child("ipaCode"),
            Problem::invalid(
                "IpaCode",
                format!(
                    "{ipa:?} is not an IPA code (lowercase letters, digits and '_', at most 20, starting and ending with a letter or digit)"
                ),
            ),
        );
    }
    if let Some(province) = &m.province
        && (province.len() != 2 || !province.bytes().all(|b| b.is_ascii_uppercase()))
    {
        p.push(
            path.child("province"),
            Problem::invalid(
                "ProvinceCode",
                format!("{province:?} is not a province code (two capital letters, e.g. MO)"),
            ),
        );
    }
    (p.0.len() == before).then(|| ValidMunicipality {
        name: m.name.clone(),
        istat_code: istat_code.expect("parsed without problems"),
        cadastral_code,
        fiscal_code,
        ipa_code: m.ipa_code.clone(),
        province: m.province.clone(),
    })
}
