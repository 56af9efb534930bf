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

/// A private certificate authority and a server certificate it signed for `127.0.0.1` and
/// `localhost`, made with the `openssl` CLI in a temporary directory removed on drop.
///
/// Neither is in any root store, so a client trusts the server only when given
/// [`ca_path`](Self::ca_path).
#[derive(Debug)]
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// Makes a new CA and server certificate (P-256 keys, valid for a day).
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
        run(&[
            &["req"][..],
            &ec,
            &["-keyout", &path("server.key"), "-out", &path("server.csr")],
            &["-subj", "/CN=localhost"],
        ]
        .concat());
        run(&[
            "x509",
            "-req",
            "-in",
            &path("server.csr"),
            "-CA",
            &path("ca.pem"),
            "-CAkey",
            &path("ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &path("server.ext"),
            "-out",
            &path("server.pem"),
        ]);
        Ok(ca)
    }

    /// The CA certificate (PEM): what a client is told to trust.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
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

/// Accepts TLS connections on `listener` until `stop`, handing each finished handshake on;
/// a handshake the client rejects (or that fails otherwise) is counted in `rejected`.
///
/// # Panics
/// When the certificate or key is not valid PEM, or they do not match.
pub(crate) fn accept_tls(
    listener: TcpListener,
    cert_pem: &[u8],
    key_pem: &[u8],
    alpn: &[u8],
    rejected: Arc<AtomicUsize>,
    mut stop: oneshot::Receiver<()>,
) -> mpsc::Receiver<TlsStream<TcpStream>> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("server certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem).expect("server key PEM");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
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
