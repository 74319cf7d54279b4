//! Registry client over the OCI distribution API, and opening images from
//! registries.
//!
//! [`Client`] speaks HTTPS (rustls on aws-lc-rs, system roots plus any CA
//! files given), or plain HTTP when [`RegistryOptions::plain_http`] opts in.
//! It answers `WWW-Authenticate` challenges with basic credentials or a
//! bearer token fetched from the challenge's realm, and never sends
//! credentials over plain HTTP to a host that is not loopback. Redirects
//! (blob downloads from a CDN) drop the `Authorization` header when they
//! leave the registry's origin, and a redirect from HTTPS to HTTP is refused.
//!
//! Generic operations for other crates: [`Client::manifest`] (by tag or
//! digest, verified), [`Client::blob`] (a stream verified at its end),
//! [`Client::tags`], [`Client::referrers`] (OCI 1.1 API with the
//! `sha256-<hex>` tag fallback), and pushing ([`Client::push_blob`],
//! [`Client::put_manifest`]).

use std::io::Read;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::ImageError;
use crate::image::{Image, OpenOptions, SourceKind, build_from_manifest};
use crate::reference::Reference;
use crate::resolve::{self, Documents, Resolved};
use crate::source::{Locator, Store};
use crate::spec::{Descriptor, Document};

mod challenge;
mod client;
mod credentials;

pub use client::{BlobReader, Client, Fetched};
pub use credentials::Credentials;

/// How to reach registries.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Credentials for the registry of the image being opened; when `None`,
    /// they are looked up in [`RegistryOptions::auth_files`].
    pub credentials: Option<Credentials>,
    /// Auth files to look credentials up in; empty means the usual ones
    /// (`REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
    /// `~/.docker/config.json`).
    pub auth_files: Vec<PathBuf>,
    /// Use plain HTTP instead of HTTPS (`--insecure`). Credentials are then
    /// only sent to loopback hosts.
    pub plain_http: bool,
    /// Extra PEM CA certificates to trust besides the system roots.
    pub ca_files: Vec<PathBuf>,
    /// Per-operation network timeout in seconds (connect, each read); 0
    /// means the default of 60.
    pub timeout_secs: u64,
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The HTTP exchange failed (connection, TLS, timeout).
    #[error("{url}: {source}")]
    Http {
        /// The request URL.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error status.
    #[error("{url}: HTTP {status}{message}")]
    Status {
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
        /// The registry's error codes and messages, if any (`": ..."`).
        message: String,
    },
    /// Authentication was required and failed.
    #[error("{registry}: authentication failed: {reason}")]
    Auth {
        /// The registry.
        registry: String,
        /// Why.
        reason: String,
    },
    /// An auth file or credential helper could not be used.
    #[error("{source_file}: {reason}")]
    Credentials {
        /// The auth file.
        source_file: String,
        /// Why.
        reason: String,
    },
    /// Content did not match its digest or size.
    #[error("{url}: {reason}")]
    Verification {
        /// The request URL.
        url: String,
        /// What did not match.
        reason: String,
    },
    /// A response was larger than allowed.
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge {
        /// The request URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The client could not be set up (CA file, TLS).
    #[error("registry client: {0}")]
    Setup(String),
}

pub(crate) fn open_image(
    reference: &Reference,
    options: &OpenOptions,
) -> Result<Image, ImageError> {
    let client = Client::new(&options.registry)?;
    let limits = &options.limits;
    let fetched = client.manifest(reference, limits.max_manifest_bytes)?;
    let input = reference.to_string();
    let what = format!("{input}@{}", fetched.digest);
    let resolved = match Document::parse(&fetched.bytes, Some(&fetched.media_type))
        .map_err(|reason| ImageError::malformed(&what, reason))?
    {
        Document::Manifest(manifest) => Resolved {
            manifest: *manifest,
            digest: fetched.digest,
            media_type: fetched.media_type,
        },
        Document::Index(index) => {
            let docs = RegistryDocuments {
                client: &client,
                reference,
                max: limits.max_manifest_bytes,
            };
            resolve::resolve(&docs, index, &what, &options.selection(None), limits)?
        }
    };
    let store = RegistryStore {
        client,
        reference: reference.clone(),
        name: input.clone(),
    };
    let tags = reference
        .tag()
        .map(|t| vec![format!("{}:{t}", reference.repository())]);
    build_from_manifest(
        Box::new(store),
        SourceKind::Registry,
        input,
        resolved,
        tags.unwrap_or_default(),
        limits,
    )
}

struct RegistryDocuments<'a> {
    client: &'a Client,
    reference: &'a Reference,
    max: u64,
}

impl Documents for RegistryDocuments<'_> {
    fn document(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let r = self.reference.with_target(None, Some(d.digest.clone()));
        Ok(self.client.manifest(&r, self.max)?.bytes)
    }
}

struct RegistryStore {
    client: Client,
    reference: Reference,
    name: String,
}

impl Store for RegistryStore {
    fn open(
        &self,
        locator: &Locator,
        _size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        match locator {
            Locator::Blob(d) => Ok(Box::new(self.client.blob_unverified(&self.reference, d)?)),
            Locator::Member(m) => Err(ImageError::malformed(
                &self.name,
                format!("no member {m:?} in a registry"),
            )),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// The tag the referrers tag-schema fallback uses for `subject`.
pub fn referrers_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm().name(), subject.hex())
}
