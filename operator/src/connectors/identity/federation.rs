//! The OpenID Connect Federation entity configuration of a municipality as a relying party
//! behind the region's gateway (a Full aggregator: the municipality's IPA code in the path of
//! its client id), as SPID and CIE id's federation asks: a JWS of type
//! `entity-statement+jwt`, signed with a federation key and publishing the federation keys
//! (`jwks`), kept apart from the keys of the OpenID Connect protocol itself
//! (`metadata.openid_relying_party.jwks`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::keys::{KeyError, SigningKey};

/// A municipality as relying party.
pub struct RelyingParty<'a> {
    /// The gateway's base URL, no trailing slash.
    pub gateway: &'a str,
    pub ipa_code: &'a str,
    /// Its name in Italian.
    pub organization: &'a str,
    pub homepage: &'a str,
    /// Its contacts (the PEC first).
    pub contacts: &'a [&'a str],
    /// The entities above it: the region's intermediate.
    pub authority_hints: &'a [&'a str],
    /// Federation keys, published; the first signs (the others are the next, or the last
    /// until it expires).
    pub federation_keys: &'a [&'a SigningKey],
    /// Keys of the OpenID Connect protocol (request objects, client assertions).
    pub protocol_keys: &'a [&'a SigningKey],
    /// Keys OpenID providers encrypt userinfo to.
    pub encryption_keys: &'a [&'a SigningKey],
}

/// The client id (and entity id) of `ipa_code` on the gateway.
pub fn client_id(gateway: &str, ipa_code: &str) -> String {
    format!("{gateway}/{ipa_code}/")
}

/// The signed entity configuration, issued at `issued_at` (Unix seconds) for `lifetime`
/// seconds.
pub fn entity_configuration(
    rp: &RelyingParty<'_>,
    issued_at: i64,
    lifetime: i64,
) -> Result<String, KeyError> {
    let id = client_id(rp.gateway, rp.ipa_code);
    let jwks = |keys: &[&SigningKey]| json!({"keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>()});
    let payload = json!({
        "iss": id,
        "sub": id,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jwks": jwks(rp.federation_keys),
        "authority_hints": rp.authority_hints,
        "metadata": {
            "federation_entity": {
                "organization_name": rp.organization,
                "homepage_uri": rp.homepage,
                "contacts": rp.contacts,
            },
            "openid_relying_party": {
                "client_id": id,
                "client_name": rp.organization,
                "organization_name": rp.organization,
                "contacts": rp.contacts,
                "client_registration_types": ["automatic"],
                "redirect_uris": [format!("{id}callback/")],
                "response_types": ["code"],
                "grant_types": ["authorization_code", "refresh_token"],
                "jwks": {"keys": rp
                    .protocol_keys
                    .iter()
                    .map(|k| k.public_jwk())
                    .chain(rp.encryption_keys.iter().map(|k| k.public_encryption_jwk()))
                    .collect::<Vec<_>>()},
                "id_token_signed_response_alg": "RS256",
                "userinfo_signed_response_alg": "RS256",
                "userinfo_encrypted_response_alg": "RSA-OAEP",
                "userinfo_encrypted_response_enc": "A128CBC-HS256",
                "token_endpoint_auth_method": "private_key_jwt",
            },
        },
    });
    let signer = rp
        .federation_keys
        .first()
        .expect("an entity configuration has a federation key");
    jws(&payload, signer, "entity-statement+jwt")
}

/// A compact JWS (RS256) of `payload` with the header's `typ`.
pub fn jws(payload: &Value, key: &SigningKey, typ: &str) -> Result<String, KeyError> {
    let header = json!({"alg": "RS256", "kid": key.kid(), "typ": typ});
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string().as_bytes());
    let signing_input = format!("{}.{}", encode(&header), encode(payload));
    let signature = key.sign_rs256(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::identity::keys::tests::test_key;

    #[test]
    fn the_entity_configuration_names_itself_by_its_ipa_code_and_is_signed_by_a_published_key() {
        let key = test_key();
        let rp = RelyingParty {
            gateway: "https://login.regione.example",
            ipa_code: "c_f257",
            organization: "Comune di Modena",
            homepage: "https://www.comune.modena.it",
            contacts: &["comune.modena@cert.comune.modena.it"],
            authority_hints: &["https://login.regione.example/"],
            federation_keys: &[key],
            protocol_keys: &[key],
            encryption_keys: &[key],
        };
        let jwt = entity_configuration(&rp, 1_800_000_000, 86_400).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
        };
        let (header, payload) = (decode(parts[0]), decode(parts[1]));
        assert_eq!(header["typ"], "entity-statement+jwt");
        assert_eq!(header["kid"], key.kid());
        assert_eq!(payload["sub"], "https://login.regione.example/c_f257/");
        assert_eq!(payload["iss"], payload["sub"]);
        assert_eq!(payload["exp"], 1_800_086_400);
        assert_eq!(payload["jwks"]["keys"][0]["kid"], key.kid());
        let protocol = &payload["metadata"]["openid_relying_party"]["jwks"]["keys"];
        assert_eq!(protocol[0]["use"], "sig");
        assert_eq!(
            protocol[1]["use"], "enc",
            "userinfo is encrypted to a key published for it"
        );
        assert_eq!(protocol[1]["alg"], "RSA-OAEP");
        assert_eq!(
            payload["metadata"]["openid_relying_party"]["redirect_uris"][0],
            "https://login.regione.example/c_f257/callback/"
        );
    }
}
