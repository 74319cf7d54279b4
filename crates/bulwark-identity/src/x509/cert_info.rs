//! The facts about a certificate that the SPIFFE rules look at, read once
//! with x509-parser.

use std::time::{Duration, SystemTime};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertInfoError {
    #[error("certificate is not valid DER: {reason}")]
    Der { reason: String },
    #[error("certificate has {bytes} bytes after its end")]
    TrailingData { bytes: usize },
    #[error("certificate has a malformed {extension} extension: {reason}")]
    Extension {
        extension: &'static str,
        reason: String,
    },
}

/// Key usage bits the SPIFFE rules care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUsageBits {
    pub critical: bool,
    pub digital_signature: bool,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
}

/// What a certificate says about itself (nothing here is verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub uri_sans: Vec<String>,
    pub dns_sans: Vec<String>,
    /// `cA` of the basic constraints extension (false when absent).
    pub is_ca: bool,
    pub key_usage: Option<KeyUsageBits>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub subject: String,
    pub serial_hex: String,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
}

impl CertInfo {
    pub fn parse(der: &[u8]) -> Result<Self, CertInfoError> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| CertInfoError::Der {
            reason: e.to_string(),
        })?;
        if !rest.is_empty() {
            return Err(CertInfoError::TrailingData { bytes: rest.len() });
        }
        let mut info = CertInfo {
            uri_sans: Vec::new(),
            dns_sans: Vec::new(),
            is_ca: false,
            key_usage: None,
            not_before: to_system_time(cert.validity().not_before.timestamp()),
            not_after: to_system_time(cert.validity().not_after.timestamp()),
            subject: cert.subject().to_string(),
            serial_hex: cert.tbs_certificate.raw_serial_as_string(),
            spki_der: cert.public_key().raw.to_vec(),
        };
        for ext in cert.extensions() {
            info.absorb(ext)?;
        }
        Ok(info)
    }

    fn absorb(
        &mut self,
        ext: &x509_parser::extensions::X509Extension<'_>,
    ) -> Result<(), CertInfoError> {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::URI(uri) => self.uri_sans.push((*uri).to_owned()),
                        GeneralName::DNSName(dns) => self.dns_sans.push((*dns).to_owned()),
                        _ => {}
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) => self.is_ca = bc.ca,
            ParsedExtension::KeyUsage(ku) => {
                self.key_usage = Some(KeyUsageBits {
                    critical: ext.critical,
                    digital_signature: ku.digital_signature(),
                    key_cert_sign: ku.key_cert_sign(),
                    crl_sign: ku.crl_sign(),
                });
            }
            ParsedExtension::ParseError { error } => {
                return Err(CertInfoError::Extension {
                    extension: extension_name(ext),
                    reason: error.to_string(),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

fn extension_name(ext: &x509_parser::extensions::X509Extension<'_>) -> &'static str {
    use x509_parser::oid_registry as oids;
    let oid = &ext.oid;
    if *oid == oids::OID_X509_EXT_SUBJECT_ALT_NAME {
        "subjectAltName"
    } else if *oid == oids::OID_X509_EXT_KEY_USAGE {
        "keyUsage"
    } else if *oid == oids::OID_X509_EXT_BASIC_CONSTRAINTS {
        "basicConstraints"
    } else {
        "other"
    }
}

fn to_system_time(unix: i64) -> SystemTime {
    match u64::try_from(unix) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}
