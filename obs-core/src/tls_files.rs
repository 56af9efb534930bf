//! The PEM files of OTLP over TLS: the CA certificates a client trusts, and the certificate and
//! private key it presents to a collector that asks for one (mutual TLS).
//!
//! They are read and checked when the telemetry is built, so a bad file is an error naming its
//! setting at startup rather than exports failing later.

use std::fmt;
use std::path::Path;

use rustls_pki_types::CertificateDer;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::{self, PemObject, SectionKind};

use crate::Error;

/// The CA certificates of a PEM file, trusted for an `https://` collector besides the
/// system's and the webpki roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CaCertificates {
    /// The file as read, for tonic, which parses PEM itself.
    pub(crate) pem: Vec<u8>,
    /// Every certificate in it, for reqwest.
    pub(crate) certs: Vec<CertificateDer<'static>>,
}

impl CaCertificates {
    /// Reads the PEM file at `path`: an error, naming `setting`, when it cannot be read, is
    /// not PEM, or holds no certificate.
    pub(crate) fn load(setting: &'static str, path: &Path) -> Result<Self, Error> {
        let pem = read(setting, path)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                invalid(
                    setting,
                    path,
                    format!("not a PEM file of certificates: {e}"),
                )
            })?;
        if certs.is_empty() {
            return Err(invalid(setting, path, NO_CERTIFICATE));
        }
        Ok(CaCertificates { pem, certs })
    }
}

const NO_CERTIFICATE: &str = "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file";

/// A client certificate, with any intermediates, and its private key.
///
/// Only their PEM sections are kept: other sections (`EC PARAMETERS` before an OpenSSL key, a
/// key in the certificate file) would make reqwest refuse the identity, and tonic reads the
/// first key of a file, which need not be the one meant.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ClientIdentity {
    /// The `CERTIFICATE` sections of the certificate file, in order (leaf first).
    pub(crate) cert_pem: Vec<u8>,
    /// The first private-key section of the key file.
    pub(crate) key_pem: Vec<u8>,
}

impl ClientIdentity {
    /// Reads the certificate and key files, each given with the setting that named it: an
    /// error naming that setting when a file cannot be read, is not PEM, or holds no
    /// certificate (no unencrypted private key), or, with an OTLP transport compiled in, when
    /// the key is not the certificate's.
    pub(crate) fn load(
        (cert_setting, cert_path): (&'static str, &Path),
        (key_setting, key_path): (&'static str, &Path),
    ) -> Result<Self, Error> {
        let certs = sections(cert_setting, cert_path, usize::MAX, |kind| {
            kind == SectionKind::Certificate
        })?;
        if certs.der.is_empty() {
            return Err(invalid(cert_setting, cert_path, NO_CERTIFICATE));
        }
        let key = sections(key_setting, key_path, 1, |kind| {
            matches!(
                kind,
                SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
            )
        })?;
        let Some((kind, der)) = key.der.into_iter().next() else {
            return Err(invalid(
                key_setting,
                key_path,
                "no unencrypted PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY \
                 or EC PRIVATE KEY) in the file",
            ));
        };
        #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
        key_matches(certs.der, (kind, der)).map_err(|e| {
            invalid(
                key_setting,
                key_path,
                format!(
                    "not the private key of the certificate in {}: {e}",
                    cert_path.display()
                ),
            )
        })?;
        #[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
        let _ = (kind, der);
        Ok(ClientIdentity {
            cert_pem: certs.pem,
            key_pem: key.pem,
        })
    }

    /// The key and the certificates in one PEM buffer, as reqwest's `Identity::from_pem`
    /// takes them.
    pub(crate) fn combined_pem(&self) -> Vec<u8> {
        [self.key_pem.as_slice(), &self.cert_pem].concat()
    }
}

impl fmt::Debug for ClientIdentity {
    // Never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem_bytes", &self.cert_pem.len())
            .finish_non_exhaustive()
    }
}

/// The TLS files of OTLP exports as PEM, read and checked, for an HTTP client of one's own
/// that posts to the collector obs exports to; see
/// [`otlp_tls_from_env`](crate::config::otlp_tls_from_env).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpTlsPem {
    /// CA certificates to trust besides the client's built-in roots: one or more
    /// `CERTIFICATE` sections, as `reqwest::Certificate::from_pem_bundle` takes them.
    pub ca_certificates: Option<Vec<u8>>,
    /// The client certificate chain and its private key in one buffer, key first, as
    /// `reqwest::Identity::from_pem` takes them.
    pub client_identity: Option<Vec<u8>>,
}

impl fmt::Debug for OtlpTlsPem {
    // Never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpTlsPem")
            .field(
                "ca_certificates",
                &self.ca_certificates.as_ref().map(Vec::len),
            )
            .field("client_identity", &self.client_identity.is_some())
            .finish()
    }
}

fn invalid(setting: &'static str, path: &Path, reason: impl Into<String>) -> Error {
    Error::invalid(setting, path.display().to_string(), reason)
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| invalid(setting, path, format!("cannot read the file: {e}")))
}

/// PEM sections of one file.
struct Sections {
    /// As text, each from its `-----BEGIN` line to its `-----END` line.
    pem: Vec<u8>,
    /// Decoded, with their kind.
    der: Vec<(SectionKind, Vec<u8>)>,
}

/// The first `limit` PEM sections of the file at `path` whose kind `keep` accepts.
fn sections(
    setting: &'static str,
    path: &Path,
    limit: usize,
    keep: impl Fn(SectionKind) -> bool,
) -> Result<Sections, Error> {
    let file = read(setting, path)?;
    let mut out = Sections {
        pem: Vec::new(),
        der: Vec::new(),
    };
    let mut rest: &[u8] = &file;
    while out.der.len() < limit {
        let before = rest;
        let section = pem::from_buf(&mut rest)
            .map_err(|e| invalid(setting, path, format!("not a PEM file: {e}")))?;
        let Some((kind, der)) = section else { break };
        if !keep(kind) {
            continue;
        }
        // What was read: any text and unknown sections before this one, then this one,
        // whose BEGIN line is the last in it.
        let read = &before[..before.len() - rest.len()];
        let begin = read
            .windows(BEGIN.len())
            .rposition(|w| w == BEGIN)
            .unwrap_or(0);
        out.pem.extend_from_slice(&read[begin..]);
        if !out.pem.ends_with(b"\n") {
            out.pem.push(b'\n');
        }
        out.der.push((kind, der));
    }
    Ok(out)
}

/// Whether the key is the one of the chain's first certificate, as rustls checks when the
/// exporter is built; checked here so the error names the setting and both files.
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
fn key_matches(
    certs: Vec<(SectionKind, Vec<u8>)>,
    (kind, der): (SectionKind, Vec<u8>),
) -> Result<(), rustls::Error> {
    use rustls_pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

    let key = match kind {
        SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
        SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
        _ => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
    };
    let certs = certs
        .into_iter()
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    rustls::sign::CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider())
        .map(|_| ())
}

const BEGIN: &[u8] = b"-----BEGIN ";

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn only_the_certificate_and_key_sections_are_kept() {
        let dir = std::env::temp_dir().join(format!("obs-tls-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let chain = file(
            &dir,
            "chain.pem",
            &format!(
                "subject=CN=leaf\n{cert}-----BEGIN PRIVATE KEY-----\nBBBB\n\
                 -----END PRIVATE KEY-----\n{}",
                cert.replace("AAAA", "CCCC")
            ),
        );
        let key = file(
            &dir,
            "key.pem",
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n\
             -----BEGIN EC PRIVATE KEY-----\nDDDD\n-----END EC PRIVATE KEY-----\n\
             -----BEGIN PRIVATE KEY-----\nEEEE\n-----END PRIVATE KEY-----",
        );
        let is_cert = |kind| kind == SectionKind::Certificate;
        let certs = sections("CERT", &chain, usize::MAX, is_cert).unwrap();
        assert_eq!(
            String::from_utf8(certs.pem).unwrap(),
            format!("{cert}{}", cert.replace("AAAA", "CCCC"))
        );
        assert_eq!(certs.der.len(), 2);
        let is_key = |kind| matches!(kind, SectionKind::PrivateKey | SectionKind::EcPrivateKey);
        let key = sections("KEY", &key, 1, is_key).unwrap();
        assert_eq!(
            String::from_utf8(key.pem).unwrap(),
            "-----BEGIN EC PRIVATE KEY-----\nDDDD\n-----END EC PRIVATE KEY-----\n"
        );
        assert_eq!(key.der.len(), 1);
        let id = ClientIdentity {
            cert_pem: b"cert".to_vec(),
            key_pem: b"SECRET".to_vec(),
        };
        assert_eq!(id.combined_pem(), b"SECRETcert");
        assert!(!format!("{id:?}").contains("SECRET"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
