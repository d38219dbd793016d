//! The identity connector's signing keys: RSA (SPID's certificates must be RSA, and RS256 is the
//! algorithm every SPID and CIE OpenID provider supports), kept as PKCS#8 in Secrets, signed
//! with by ring. Generating one is the only random step; everything built from a key is not.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("generating an RSA key: {0}")]
    Generate(String),
    #[error("the key is not an RSA private key in PKCS#8: {0}")]
    Unreadable(String),
    #[error("signing with key {kid}: {reason}")]
    Sign { kid: String, reason: String },
}

/// An RSA signing key and its public identity.
pub struct SigningKey {
    pkcs8: Vec<u8>,
    pair: RsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    // Never the private key, even in a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new 3072-bit key (within SPID's 2048-4096 and the federation's 2048 minimum).
    pub fn generate() -> Result<Self, KeyError> {
        use rsa::Generate;
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::PrivateKey::generate();
        let der = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::from_pkcs8(der.as_bytes())
    }

    /// A key derived from `seed`: the same seed, the same key. Only for keys thrown away after
    /// use (`municipio render`): anyone who knows the seed has the key.
    pub fn derived(seed: &[u8]) -> Result<Self, KeyError> {
        use chacha20::rand_core::SeedableRng;
        use rsa::Generate;
        use rsa::pkcs8::EncodePrivateKey;
        use sha2::{Digest, Sha256};
        let mut rng = chacha20::ChaCha20Rng::from_seed(Sha256::digest(seed).into());
        let key = rsa::PrivateKey::generate_from_rng(&mut rng);
        let der = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::from_pkcs8(der.as_bytes())
    }

    /// The key stored as PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| KeyError::Unreadable(e.to_string()))?;
        let kid = thumbprint(&public_components(&pair));
        Ok(Self {
            pkcs8: der.to_vec(),
            pair,
            kid,
        })
    }

    /// The PKCS#8 DER to store (a secret).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key id: its RFC 7638 JWK thumbprint, the same wherever the key is published.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a signing JWK (RS256), for a `jwks`.
    pub fn public_jwk(&self) -> Value {
        self.jwk("sig", "RS256")
    }

    /// The public key as an encryption JWK (RSA-OAEP): what an OpenID provider encrypts
    /// userinfo to. (The gateway, which holds the private key, decrypts.)
    pub fn public_encryption_jwk(&self) -> Value {
        self.jwk("enc", "RSA-OAEP")
    }

    fn jwk(&self, usage: &str, alg: &str) -> Value {
        let (n, e) = public_components(&self.pair);
        json!({"kty": "RSA", "kid": self.kid, "use": usage, "alg": alg, "n": n, "e": e})
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (XML-DSig's rsa-sha256, JWS's RS256) over `message`.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|e| KeyError::Sign {
                kid: self.kid.clone(),
                reason: e.to_string(),
            })?;
        Ok(signature)
    }
}

/// The modulus and exponent, base64url.
fn public_components(pair: &RsaKeyPair) -> (String, String) {
    let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    (
        URL_SAFE_NO_PAD.encode(&components.n),
        URL_SAFE_NO_PAD.encode(&components.e),
    )
}

/// RFC 7638: SHA-256 of the required members in lexicographic order, base64url.
fn thumbprint((n, e): &(String, String)) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One key for the unit tests of this connector (generating one takes a moment).
    pub(crate) fn test_key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate().expect("a key"))
    }

    #[test]
    fn a_key_reads_back_from_its_pkcs8_with_the_same_id_and_signs_verifiably() {
        let key = test_key();
        let again = SigningKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert_eq!(key.public_jwk()["kid"], key.kid());
        let signature = key.sign_rs256(b"municipio").unwrap();
        assert_eq!(signature.len(), 384, "3072 bits");
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(key.pair.public());
        components
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                b"municipio",
                &signature,
            )
            .expect("the signature verifies with the public key");
        assert!(!format!("{key:?}").contains("pkcs8"), "{key:?}");
    }

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        // RFC 7638, section 3.1: the example key and its thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(&(n.to_owned(), "AQAB".to_owned())),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
