//! Key pairs: per-user SSH (and x509) public keys with Nova's fingerprints, import
//! with validation, generation when no key is given, and the lookup server create uses.
//!
//! Keys are parsed with the `ssh-key` crate (RustCrypto): it decodes and checks
//! every OpenSSH public key type Nova accepts, and generates Ed25519 key pairs
//! without a slow RSA prime search.

use base64::Engine;
use md5::{Digest, Md5};
use rusqlite::Connection;

use super::ComputeService;
use super::model::Keypair;
use super::quotas;
use super::store::catalog as store;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Colon-separated lowercase hex, as Nova prints fingerprints.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn invalid_key(reason: &str) -> ApiError {
    ApiError::bad_request(format!("Keypair data is invalid: {reason}"))
}

/// MD5 of the decoded key blob of an OpenSSH public key line, after checking that
/// the line is a well-formed key of a known type.
pub(crate) fn ssh_fingerprint(public_key: &str) -> ApiResult<String> {
    let key = ssh_key::PublicKey::from_openssh(public_key.trim())
        .map_err(|_| invalid_key("failed to generate fingerprint"))?;
    let blob = key
        .to_bytes()
        .map_err(|_| invalid_key("failed to generate fingerprint"))?;
    Ok(colon_hex(&Md5::digest(&blob)))
}

/// SHA-1 of the DER of a PEM certificate, as Nova fingerprints x509 keys.
pub(crate) fn x509_fingerprint(pem: &str) -> ApiResult<String> {
    let bad = || invalid_key("failed to generate fingerprint");
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")
        .and_then(|s| s.trim_end().strip_suffix("-----END CERTIFICATE-----"))
        .ok_or_else(bad)?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad())?;
    // A certificate is a DER SEQUENCE.
    if der.first() != Some(&0x30) || der.len() < 16 {
        return Err(bad());
    }
    Ok(colon_hex(&sha1::Sha1::digest(&der)))
}

/// A self-signed client certificate for `user_id`, as Nova makes for an x509 key
/// pair (WinRM certificate authentication): an RSA 2048 key, subject
/// `CN=<user id>`, ten years, extended key usage clientAuth. Returns the
/// certificate (PEM: the key pair's public key) and the private key (PKCS#8
/// PEM; Nova hands out a PKCS#12 bundle of both, base64-encoded). Built with
/// RustCrypto's `x509-cert` builder and `rsa`, never hand-made DER.
async fn generate_x509(user_id: &str) -> ApiResult<(String, String)> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    use x509_cert::ext::pkix::ExtendedKeyUsage;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;

    let user_id = user_id.to_owned();
    // RSA key generation is CPU work of a few hundred milliseconds.
    tokio::task::spawn_blocking(move || {
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| x509_failed("key", &e))?;
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
        let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key())
            .map_err(|e| x509_failed("public key", &e))?;
        let subject = certificate_subject(&user_id)?;
        let serial = random_serial(&mut rng)?;
        let validity = Validity::from_now(std::time::Duration::from_secs(3650 * 86400))
            .map_err(|e| x509_failed("validity", &e))?;
        let profile = Profile::Leaf {
            issuer: subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: true,
        };
        let mut builder =
            CertificateBuilder::new(profile, serial, validity, subject, spki, &signer)
                .map_err(|e| x509_failed("builder", &e))?;
        builder
            .add_extension(&ExtendedKeyUsage(vec![
                x509_cert::der::oid::db::rfc5280::ID_KP_CLIENT_AUTH,
            ]))
            .map_err(|e| x509_failed("extension", &e))?;
        let cert = builder
            .build::<rsa::pkcs1v15::Signature>()
            .map_err(|e| x509_failed("signing", &e))?;
        let cert_pem = cert
            .to_pem(x509_cert::der::pem::LineEnding::LF)
            .map_err(|e| x509_failed("certificate PEM", &e))?;
        let key_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| x509_failed("private key PEM", &e))?;
        Ok((cert_pem, key_pem.to_string()))
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("x509 key pair task: {e}")))?
}

/// An x509 key pair that could not be made: a fault of ours, not the caller's.
fn x509_failed(what: &str, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("x509 key pair: {what}: {e}"))
}

/// `CN=<user id>`. The user id is a hex UUID or a name; only characters that
/// need no quoting in an RDN are kept.
fn certificate_subject(user_id: &str) -> ApiResult<x509_cert::name::Name> {
    use std::str::FromStr;
    let cn: String = user_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        .collect();
    x509_cert::name::Name::from_str(&format!("CN={cn}")).map_err(|e| x509_failed("subject", &e))
}

/// A random positive 128-bit serial number, as RFC 5280 asks.
fn random_serial(
    rng: &mut rsa::rand_core::OsRng,
) -> ApiResult<x509_cert::serial_number::SerialNumber> {
    let mut serial = [0u8; 16];
    rsa::rand_core::RngCore::fill_bytes(rng, &mut serial);
    serial[0] &= 0x7f;
    x509_cert::serial_number::SerialNumber::new(&serial).map_err(|e| x509_failed("serial", &e))
}

/// Nova's key name rule before 2.92: 1-255 of letters, digits, `_`, `-` and space.
/// `with_at_dot`: from 2.92 `@` and `.` are allowed too (e-mail-like names).
pub(crate) fn validate_name(name: &str, with_at_dot: bool) -> ApiResult<()> {
    if name.is_empty() || name.chars().count() > 255 {
        return Err(invalid_key(
            "Keypair name must be string and between 1 and 255 characters long",
        ));
    }
    if !name.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '_' | '-' | ' ')
            || (with_at_dot && matches!(c, '@' | '.'))
    }) {
        return Err(invalid_key("Keypair name contains unsafe characters"));
    }
    Ok(())
}

/// A freshly generated key pair: (OpenSSH public line, OpenSSH private key PEM).
fn generate() -> ApiResult<(String, String)> {
    let mut rng = ssh_key::rand_core::OsRng;
    let mut key = ssh_key::PrivateKey::random(&mut rng, ssh_key::Algorithm::Ed25519)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("key generation failed: {e}")))?;
    key.set_comment("Generated-by-Nova");
    let private = key
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("key encoding failed: {e}")))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("key encoding failed: {e}")))?;
    Ok((public, private.to_string()))
}

/// What `POST /os-keypairs` asks for.
#[derive(Debug, Clone)]
pub(crate) struct KeypairCreate {
    pub name: String,
    pub public_key: Option<String>,
    pub key_type: String,
    pub user_id: Option<String>,
    /// 2.92: names may hold `@` and `.`.
    pub with_at_dot: bool,
}

/// The user whose key pairs a call acts on: the caller, or (admin only, 2.10)
/// the `user_id` given.
pub(crate) fn target_user(ctx: &RequestContext, user_id: Option<String>) -> ApiResult<String> {
    match user_id {
        Some(u) if u != ctx.user.id => {
            ctx.require_admin()?;
            Ok(u)
        }
        _ => Ok(ctx.user.id.clone()),
    }
}

fn not_found(name: &str, user: &str) -> ApiError {
    ApiError::Missing(format!("Keypair {name} not found for user {user}"))
}

/// The key pair a server is booted with, looked up for its owner.
pub(crate) fn keypair_for_boot(c: &Connection, user_id: &str, name: &str) -> ApiResult<Keypair> {
    store::keypair_get(c, user_id, name)?
        .ok_or_else(|| ApiError::bad_request("Invalid key_name provided."))
}

impl ComputeService {
    /// `POST /os-keypairs`: import a public key or generate a pair; returns the
    /// key pair and, when generated, the private key.
    pub(crate) async fn keypair_create(
        &self,
        ctx: &RequestContext,
        req: KeypairCreate,
    ) -> ApiResult<(Keypair, Option<String>)> {
        let user = target_user(ctx, req.user_id.clone())?;
        validate_name(&req.name, req.with_at_dot)?;
        let (public_key, private_key) = match req.public_key {
            Some(k) => (k, None),
            None if req.key_type == "x509" => {
                let (cert, private) = generate_x509(&user).await?;
                (cert, Some(private))
            }
            None => {
                let (public, private) = generate()?;
                (public, Some(private))
            }
        };
        let fingerprint = match req.key_type.as_str() {
            "x509" => x509_fingerprint(&public_key)?,
            _ => ssh_fingerprint(&public_key)?,
        };
        let kp = Keypair {
            name: req.name,
            user_id: user,
            public_key,
            fingerprint,
            key_type: req.key_type,
            created_at: crate::http::time::iso_micros(chrono::Utc::now()),
        };
        let project = ctx.project_id().map(str::to_owned);
        self.write(move |c| {
            let allowed = match &project {
                Some(p) => quotas::limit(c, p, "key_pairs")?,
                None => 100,
            };
            let used = store::keypair_count(c, &kp.user_id)?;
            if !quotas::fits(allowed, used, 1) {
                return Err(ApiError::Forbidden(
                    "Quota exceeded, too many key pairs.".into(),
                ));
            }
            store::keypair_insert(c, &kp)?;
            Ok((kp, private_key))
        })
        .await
    }

    /// `GET /os-keypairs`: the user's key pairs with their row ids, by name.
    pub(crate) async fn keypair_list(
        &self,
        ctx: &RequestContext,
        user_id: Option<String>,
    ) -> ApiResult<Vec<(i64, Keypair)>> {
        let user = target_user(ctx, user_id)?;
        self.read(move |c| store::keypair_list(c, &user)).await
    }

    /// `GET /os-keypairs/{name}`.
    pub(crate) async fn keypair_show(
        &self,
        ctx: &RequestContext,
        name: String,
        user_id: Option<String>,
    ) -> ApiResult<(i64, Keypair)> {
        let user = target_user(ctx, user_id)?;
        self.read(move |c| {
            store::keypair_list(c, &user)?
                .into_iter()
                .find(|(_, k)| k.name == name)
                .ok_or_else(|| not_found(&name, &user))
        })
        .await
    }

    /// `DELETE /os-keypairs/{name}`.
    pub(crate) async fn keypair_delete(
        &self,
        ctx: &RequestContext,
        name: String,
        user_id: Option<String>,
    ) -> ApiResult<()> {
        let user = target_user(ctx, user_id)?;
        self.write(move |c| {
            if store::keypair_delete(c, &user, &name)? {
                Ok(())
            } else {
                Err(not_found(&name, &user))
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx8nkQv/zgGgB4rMYmIf+6A4l6Rr+o/6lHBQdW5aYd44bd8JttDCE/F/pNRr0lRE+PiqSPO8nDPHw0010JeMH9gYgnnFlyY3/OcJ02RhIPyyxYpv9FhY+2YiUkpwFOcLImyrxEsYXpD/0d3ac30bNH6Sw9JD9UZHYcpSxsIbECHw== Generated-by-Nova";

    #[test]
    fn rsa_fingerprint_is_md5_of_the_blob() {
        // Nova's api sample key; `ssh-keygen -l -E md5` agrees.
        assert_eq!(
            ssh_fingerprint(RSA).expect("valid key"),
            "1e:2c:9b:56:79:4b:45:77:f9:ca:7a:98:2c:b0:d5:3c"
        );
    }

    /// A self-signed certificate; `openssl x509 -fingerprint -sha1` gives the value below.
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIUfKjiFBSYjRrMNF/KVi1f89Z2Mc8wCgYIKoZIzj0EAwIw\nGDEWMBQGA1UEAwwNb25lc3RhY2stdGVzdDAeFw0yNjEyMDIyMDE3MjJaFw0zNjEx\nMjkyMDE3MjJaMBgxFjAUBgNVBAMMDW9uZXN0YWNrLXRlc3QwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAAQa6DfqshI3KFT0Ot1bMbSKif5p/cBdCqZBgOzvfxSYT3eu\nFRD+TYUqbBQLsH2+9SOsB5/jqMjH/Kc35QMl9STao1MwUTAdBgNVHQ4EFgQU5Rtr\nVGDcqlmr91MEAAn9MXZMbf4wHwYDVR0jBBgwFoAU5RtrVGDcqlmr91MEAAn9MXZM\nbf4wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBa0BEIaJQJ8igo\nl7iOFwFPB2b1+S9LN3f445uoS56jHQIhAKZaYDXVlLpGmfEoih+ebzR0EclHYkg1\n6OstJzzrDUYc\n-----END CERTIFICATE-----";

    #[test]
    fn generated_x509_is_a_certificate_with_a_fingerprint() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (cert, key) = rt
            .block_on(generate_x509("4f2b9c0e6e1a4b2e9d0c1a2b3c4d5e6f"))
            .expect("x509");
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        let fp = x509_fingerprint(&cert).expect("fingerprint");
        assert_eq!(fp.len(), 59, "{fp}");
    }

    #[test]
    fn x509_fingerprint_is_sha1_of_the_der() {
        assert_eq!(
            x509_fingerprint(CERT).expect("certificate"),
            "a2:48:63:13:4a:da:d1:d4:4a:64:c8:a9:4d:7e:b3:dd:c3:b8:5d:6e"
        );
    }

    #[test]
    fn generated_keys_round_trip() {
        let (public, private) = generate().expect("generate");
        assert!(public.starts_with("ssh-ed25519 "));
        assert!(private.contains("BEGIN OPENSSH PRIVATE KEY"));
        let fp = ssh_fingerprint(&public).expect("fingerprint");
        assert_eq!(fp.len(), 47);
    }

    #[test]
    fn bad_keys_and_names_are_400() {
        for bad in [
            "",
            "ssh-rsa",
            "ssh-rsa !!!notbase64",
            "ssh-foo AAAAB3NzaC1yc2E=",
            "hello world",
        ] {
            assert!(
                matches!(ssh_fingerprint(bad), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
        // A valid base64 blob whose type does not match the prefix.
        let blob = RSA.split(' ').nth(1).expect("blob");
        assert!(ssh_fingerprint(&format!("ssh-ed25519 {blob}")).is_err());
        assert!(validate_name("good name_1-2", false).is_ok());
        assert!(validate_name("", false).is_err());
        assert!(validate_name("bad/name", true).is_err());
        assert!(validate_name("bad.name", false).is_err());
        assert!(validate_name("me@example.org", true).is_ok());
        assert!(validate_name(&"a".repeat(256), false).is_err());
        assert!(
            x509_fingerprint("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----")
                .is_err()
        );
    }
}
