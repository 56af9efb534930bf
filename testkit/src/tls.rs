//! A certificate authority made for one test, and the TLS side of the OTLP collector.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

use crate::external::{Skip, binary, require};

/// A private certificate authority, a server certificate it signed for `127.0.0.1` and
/// `localhost`, and a client certificate it signed (for mutual TLS), made with the `openssl`
/// CLI in a temporary directory removed on drop.
///
/// None is in any root store, so a client trusts the server only when given
/// [`ca_path`](Self::ca_path), and a collector started with this CA as its client CA accepts
/// only clients presenting [`client_cert_path`](Self::client_cert_path).
#[derive(Debug)]
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// Makes a new CA, server and client certificate (P-256 keys, valid for a day).
    ///
    /// # Errors
    /// [`Skip`] when `openssl` is not installed.
    ///
    /// # Panics
    /// When `openssl` is missing under `OBS_TEST_REQUIRE=1`, or fails.
    pub fn generate() -> Result<Self, Skip> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let Some(openssl) = binary("openssl") else {
            return Err(require(
                "openssl is not installed (Debian package `openssl`)",
            ));
        };
        let dir = std::env::temp_dir().join(format!(
            "obs-test-ca-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the CA directory");
        let ca = TestCa { dir };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let path = |name: &str| ca.dir.join(name).to_string_lossy().into_owned();
        std::fs::write(
            path("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions file");
        std::fs::write(
            path("client.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\n",
        )
        .expect("write the extensions file");
        let run = |args: &[&str]| {
            let out = Command::new(&openssl)
                .args(args)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", &path("ca.key"), "-out", &path("ca.pem")],
            &["-days", "1", "-subj", "/CN=obs test CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat());
        for (name, subject) in [
            ("server", "/CN=localhost"),
            ("client", "/CN=obs test client"),
        ] {
            let file = |ext: &str| path(&format!("{name}.{ext}"));
            run(&[
                &["req"][..],
                &ec,
                &["-keyout", &file("key"), "-out", &file("csr")],
                &["-subj", subject],
            ]
            .concat());
            run(&[
                "x509",
                "-req",
                "-in",
                &file("csr"),
                "-CA",
                &path("ca.pem"),
                "-CAkey",
                &path("ca.key"),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &file("ext"),
                "-out",
                &file("pem"),
            ]);
        }
        Ok(ca)
    }

    /// The CA certificate (PEM): what a client is told to trust.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA certificate (PEM), for a collector that accepts only clients it signed.
    ///
    /// # Panics
    /// When the file cannot be read.
    pub fn ca_pem(&self) -> Vec<u8> {
        read(&self.ca_path())
    }

    /// The client certificate (PEM), signed by the CA for client authentication.
    pub fn client_cert_path(&self) -> PathBuf {
        self.dir.join("client.pem")
    }

    /// The client certificate's private key (PEM, PKCS #8).
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    /// The server certificate (PEM), signed by the CA.
    ///
    /// # Panics
    /// When the file cannot be read.
    pub fn server_cert_pem(&self) -> Vec<u8> {
        read(&self.dir.join("server.pem"))
    }

    /// The server certificate's private key (PEM, PKCS #8).
    ///
    /// # Panics
    /// When the file cannot be read.
    pub fn server_key_pem(&self) -> Vec<u8> {
        read(&self.dir.join("server.key"))
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server side of a TLS collector: its certificate chain and key (PEM) and, for mutual
/// TLS, the CA certificates (PEM) a client's certificate must chain to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServerTls<'a> {
    pub(crate) cert_pem: &'a [u8],
    pub(crate) key_pem: &'a [u8],
    /// `None`: no client certificate is asked for.
    pub(crate) client_ca_pem: Option<&'a [u8]>,
}

/// Accepts TLS connections on `listener` until `stop`, handing each finished handshake on;
/// a handshake the client rejects, one without an accepted client certificate when `tls`
/// requires one, or one that fails otherwise, is counted in `rejected`.
///
/// # Panics
/// When the certificate or key is not valid PEM, or they do not match, or the client CA holds
/// no certificate.
pub(crate) fn accept_tls(
    listener: TcpListener,
    tls: ServerTls<'_>,
    alpn: &[u8],
    rejected: Arc<AtomicUsize>,
    mut stop: oneshot::Receiver<()>,
) -> mpsc::Receiver<TlsStream<TcpStream>> {
    let certs = CertificateDer::pem_slice_iter(tls.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("server certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem).expect("server key PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let builder = match tls.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca_pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca_pem) {
                roots
                    .add(cert.expect("client CA PEM"))
                    .expect("client CA certificate");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client certificate verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .expect("server certificate and key");
    config.alpn_protocols = vec![alpn.to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let tcp = tokio::select! {
                _ = &mut stop => return,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(_) => continue,
                },
            };
            let (acceptor, tx, rejected) = (acceptor.clone(), tx.clone(), Arc::clone(&rejected));
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let _ = tx.send(tls).await;
                    }
                    Err(_) => {
                        rejected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    rx
}
