//! The primitives the Chinese providers' published schemes are built from, from
//! well-kept crates: SHA256withRSA (RSA PKCS#1 v1.5 over SHA-256, "RSA2" to Alipay)
//! signing and verification and AES-256-GCM opening from ring, keys read from PEM
//! by rustls-pki-types, certificates (serial number, public key, expiry) by x509-cert.
//! Nothing here knows a provider.

use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    rand::SystemRandom,
    signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey},
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer, pem::PemObject};
use x509_cert::{
    Certificate as X509,
    der::{Decode, oid::ObjectIdentifier},
    spki::SubjectPublicKeyInfoRef,
};

/// rsaEncryption: the only key algorithm either provider uses.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Why a key, certificate or ciphertext was not usable; for configuration problems
/// and verification failures, never shown with the material itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("not a PEM (or base64 DER) RSA private key in PKCS#1 or PKCS#8")]
    PrivateKey,
    #[error("not a PEM (or base64 DER) RSA public key")]
    PublicKey,
    #[error("not a PEM X.509 certificate with an RSA key")]
    Certificate,
    #[error("the ciphertext does not open with this key, nonce and associated data")]
    Open,
}

/// Our private key: signs what we send to a provider.
pub struct RsaSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSigner(..)")
    }
}

impl RsaSigner {
    /// A PEM private key, PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`); Alipay's
    /// tools also hand out the bare base64 body, which is taken as PKCS#8 or PKCS#1 DER.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        let key = match PrivateKeyDer::from_pem_slice(pem.trim().as_bytes()) {
            Ok(PrivateKeyDer::Pkcs1(der)) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            Ok(PrivateKeyDer::Pkcs8(der)) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            Ok(_) => return Err(CryptoError::PrivateKey),
            Err(_) => {
                let der = bare_base64(pem).ok_or(CryptoError::PrivateKey)?;
                RsaKeyPair::from_pkcs8(&der).or_else(|_| RsaKeyPair::from_der(&der))
            }
        }
        .map_err(|_| CryptoError::PrivateKey)?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// SHA256withRSA over `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
            .expect("an RSA key ring accepted signs");
        signature
    }

    /// [`Self::sign`], base64: how both providers carry signatures.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        STANDARD.encode(self.sign(message))
    }
}

/// A provider's public key: verifies what it sends us.
#[derive(Clone)]
pub struct RsaVerifier {
    /// The PKCS#1 `RSAPublicKey`, as ring takes it.
    pkcs1: Vec<u8>,
}

impl std::fmt::Debug for RsaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaVerifier(..)")
    }
}

impl RsaVerifier {
    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo), or its bare base64 body as Alipay's
    /// console shows it.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        let der = match SubjectPublicKeyInfoDer::from_pem_slice(pem.trim().as_bytes()) {
            Ok(der) => der.as_ref().to_vec(),
            Err(_) => bare_base64(pem).ok_or(CryptoError::PublicKey)?,
        };
        let spki = SubjectPublicKeyInfoRef::from_der(&der).map_err(|_| CryptoError::PublicKey)?;
        Self::from_spki(&spki).ok_or(CryptoError::PublicKey)
    }

    fn from_spki(spki: &SubjectPublicKeyInfoRef<'_>) -> Option<Self> {
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return None;
        }
        let pkcs1 = spki.subject_public_key.as_bytes()?.to_vec();
        Some(Self { pkcs1 })
    }

    /// Whether `signature` is SHA256withRSA over `message` by this key (2048 bits or more).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.pkcs1)
            .verify(message, signature)
            .is_ok()
    }

    /// [`Self::verify`] of a base64 signature; false when it is not base64.
    pub fn verify_base64(&self, message: &[u8], signature: &str) -> bool {
        STANDARD
            .decode(signature.trim())
            .is_ok_and(|sig| self.verify(message, &sig))
    }
}

/// An X.509 certificate's RSA key with the serial number that names it.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// Upper-case hex without leading zero bytes, as `openssl x509 -serial` prints it
    /// and WeChat Pay's `Wechatpay-Serial` carries it.
    pub serial: String,
    /// Seconds since the epoch after which the certificate is no longer valid.
    pub not_after: u64,
    pub key: RsaVerifier,
}

impl Certificate {
    /// Every certificate of a PEM bundle; an error if any is not an RSA certificate.
    pub fn bundle(pem: &str) -> Result<Vec<Self>, CryptoError> {
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(|der| Self::from_der(&der.map_err(|_| CryptoError::Certificate)?))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(CryptoError::Certificate);
        }
        Ok(certs)
    }

    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let cert = X509::from_der(der).map_err(|_| CryptoError::Certificate)?;
        let tbs = &cert.tbs_certificate;
        let spki_der = x509_cert::der::Encode::to_der(&tbs.subject_public_key_info)
            .map_err(|_| CryptoError::Certificate)?;
        let spki =
            SubjectPublicKeyInfoRef::from_der(&spki_der).map_err(|_| CryptoError::Certificate)?;
        let key = RsaVerifier::from_spki(&spki).ok_or(CryptoError::Certificate)?;
        let serial = tbs.serial_number.as_bytes();
        let first = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
        Ok(Self {
            serial: hex::encode_upper(&serial[first..]),
            not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
            key,
        })
    }
}

/// Opens AES-256-GCM `ciphertext` (with its 16-byte tag at the end) under a 32-byte
/// `key`, a 12-byte `nonce` and `associated_data`.
pub fn aes_256_gcm_open(
    key: &[u8],
    nonce: &[u8],
    associated_data: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Open)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
    let mut in_out = ciphertext.to_vec();
    let plain_len = LessSafeKey::new(key)
        .open_in_place(nonce, Aad::from(associated_data), &mut in_out)
        .map_err(|_| CryptoError::Open)?
        .len();
    in_out.truncate(plain_len);
    Ok(in_out)
}

/// Seals `plaintext` as [`aes_256_gcm_open`] opens it: what a provider does to the
/// notifications it sends, so the local simulators and tests can do it too.
pub fn aes_256_gcm_seal(
    key: &[u8],
    nonce: &[u8],
    associated_data: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Open)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
    let mut in_out = plaintext.to_vec();
    LessSafeKey::new(key)
        .seal_in_place_append_tag(nonce, Aad::from(associated_data), &mut in_out)
        .map_err(|_| CryptoError::Open)?;
    Ok(in_out)
}

/// A key pasted without its PEM armour: base64 of the DER, possibly wrapped.
fn bare_base64(text: &str) -> Option<Vec<u8>> {
    let joined: String = text.split_whitespace().collect();
    STANDARD.decode(joined).ok().filter(|der| !der.is_empty())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::OnceLock;

    use rsa::{
        RsaPrivateKey,
        pkcs1::{EncodeRsaPrivateKey, LineEnding as Pkcs1LineEnding},
        pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding},
    };

    use super::*;

    type KeyPems = (String, String, String);

    /// One generated 2048-bit key per test process: `(PKCS#8 PEM, PKCS#1 PEM, public PEM)`.
    pub(crate) fn key() -> &'static KeyPems {
        static KEY: OnceLock<KeyPems> = OnceLock::new();
        KEY.get_or_init(generate)
    }

    /// Another key, for schemes with two parties' keys (Alipay's and ours).
    pub(crate) fn second_key() -> &'static KeyPems {
        static KEY: OnceLock<KeyPems> = OnceLock::new();
        KEY.get_or_init(generate)
    }

    fn generate() -> KeyPems {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        (
            key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            key.to_pkcs1_pem(Pkcs1LineEnding::LF).unwrap().to_string(),
            key.to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        )
    }

    /// A self-signed certificate PEM for the PKCS#8 PEM `key`, with `serial` (big-endian).
    pub(crate) fn certificate(key: &str, serial: &[u8]) -> String {
        use std::{str::FromStr, time::Duration};

        use rsa::{pkcs1v15::SigningKey, pkcs8::DecodePrivateKey, sha2::Sha256};
        use x509_cert::{
            builder::{Builder, CertificateBuilder, Profile},
            der::EncodePem,
            name::Name,
            serial_number::SerialNumber,
            spki::SubjectPublicKeyInfoOwned,
            time::Validity,
        };

        let private = RsaPrivateKey::from_pkcs8_pem(key).unwrap();
        let spki = SubjectPublicKeyInfoOwned::from_key(private.to_public_key()).unwrap();
        let signer = SigningKey::<Sha256>::new(private);
        CertificateBuilder::new(
            Profile::Root,
            SerialNumber::new(serial).unwrap(),
            Validity::from_now(Duration::from_secs(3600)).unwrap(),
            Name::from_str("CN=test platform").unwrap(),
            spki,
            &signer,
        )
        .unwrap()
        .build::<rsa::pkcs1v15::Signature>()
        .unwrap()
        .to_pem(LineEnding::LF)
        .unwrap()
    }

    #[test]
    fn signatures_verify_with_the_public_key_in_every_accepted_form() {
        let (pkcs8, pkcs1, public) = key();
        let verifier = RsaVerifier::from_pem(public).unwrap();
        let body: String = public.lines().filter(|l| !l.starts_with("-----")).collect();
        let bare = RsaVerifier::from_pem(&body).unwrap();
        for pem in [pkcs8, pkcs1] {
            let signer = RsaSigner::from_pem(pem).unwrap();
            let sig = signer.sign_base64("a=1&b=2".as_bytes());
            assert!(verifier.verify_base64(b"a=1&b=2", &sig));
            assert!(bare.verify_base64(b"a=1&b=2", &sig));
            assert!(!verifier.verify_base64(b"a=1&b=3", &sig));
            assert!(!verifier.verify_base64(b"a=1&b=2", "not base64!"));
        }
        let bare_private: String = pkcs8.lines().filter(|l| !l.starts_with("-----")).collect();
        let signer = RsaSigner::from_pem(&bare_private).unwrap();
        assert!(verifier.verify(b"x", &signer.sign(b"x")));
    }

    #[test]
    fn certificates_are_named_by_their_serial_in_upper_case_hex() {
        let (pkcs8, _, public) = key();
        let pem = certificate(pkcs8, &[0x01, 0xab, 0xcd]);
        let bundle = format!("{pem}{}", certificate(&second_key().0, &[0x7f]));
        let certs = Certificate::bundle(&bundle).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].serial, "01ABCD");
        assert_eq!(certs[1].serial, "7F");
        let signature = RsaSigner::from_pem(pkcs8).unwrap().sign(b"m");
        assert!(certs[0].key.verify(b"m", &signature));
        assert!(!certs[1].key.verify(b"m", &signature));
        assert!(
            RsaVerifier::from_pem(public)
                .unwrap()
                .verify(b"m", &signature)
        );
    }

    #[test]
    fn keys_that_are_not_rsa_keys_are_refused() {
        assert_eq!(
            RsaSigner::from_pem("hello").unwrap_err(),
            CryptoError::PrivateKey
        );
        assert_eq!(
            RsaVerifier::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .unwrap_err(),
            CryptoError::PublicKey
        );
        assert_eq!(
            Certificate::bundle("no certificates here").unwrap_err(),
            CryptoError::Certificate
        );
    }

    #[test]
    fn aes_gcm_opens_what_it_sealed_and_nothing_tampered() {
        let key = [7u8; 32];
        let sealed = aes_256_gcm_seal(&key, b"0123456789ab", b"transaction", b"{}").unwrap();
        assert_eq!(
            aes_256_gcm_open(&key, b"0123456789ab", b"transaction", &sealed).unwrap(),
            b"{}"
        );
        assert!(aes_256_gcm_open(&key, b"0123456789ab", b"certificate", &sealed).is_err());
        assert!(aes_256_gcm_open(&[8u8; 32], b"0123456789ab", b"transaction", &sealed).is_err());
        assert!(aes_256_gcm_open(&key, b"short", b"transaction", &sealed).is_err());
    }
}
