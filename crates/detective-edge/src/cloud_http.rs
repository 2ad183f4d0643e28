//! The HTTP client every call from the agent to the cloud goes through: time
//! limits, and, for a cloud whose certificate a private CA signed
//! (`detective edge --cloud-ca`), trust in that CA's certificates only.

use std::path::Path;
use std::time::Duration;

use crate::EdgeError;

/// The CA certificates a cloud's HTTPS certificate must chain to.
#[derive(Debug, Clone)]
pub struct CloudCa(Vec<reqwest::Certificate>);

impl CloudCa {
    /// The PEM certificates in `path` (one CA, or a bundle).
    pub fn from_pem_file(path: &Path) -> Result<CloudCa, EdgeError> {
        let pem = std::fs::read(path).map_err(|source| EdgeError::Io {
            what: format!("the cloud's CA file {}", path.display()),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| EdgeError::InvalidArgument(format!("{}: not PEM certificates: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(EdgeError::InvalidArgument(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        Ok(CloudCa(certs))
    }
}

/// A client whose requests end after `timeout` (connecting: 5 s), trusting
/// only `ca` for HTTPS when given (the system's roots otherwise).
pub fn client(timeout: Duration, ca: Option<&CloudCa>) -> Result<reqwest::Client, EdgeError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5));
    if let Some(ca) = ca {
        builder = builder.tls_certs_only(ca.0.iter().cloned());
    }
    builder
        .build()
        .map_err(|e| EdgeError::InvalidArgument(format!("HTTP client: {e}")))
}
