//! The HTTP side of the registry client.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LINK, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};

use crate::digest::{Digest, Hasher};
use crate::reference::Reference;
use crate::registry::challenge::{self, Challenge};
use crate::registry::credentials::{self, Credentials};
use crate::registry::{RegistryError, RegistryOptions, referrers_tag};
use crate::spec::{Index, media};

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
const MAX_SMALL: u64 = 4 << 20;
const MAX_TAG_PAGES: usize = 1000;

/// A manifest or index as fetched, verified against its digest.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// Their digest (the reference's digest when it had one).
    pub digest: Digest,
    /// Media type (from the document, else the Content-Type header).
    pub media_type: String,
}

#[derive(Clone)]
enum Auth {
    Basic,
    Bearer(String),
}

/// A registry client. Cheap to share; caches tokens per registry and scope.
pub struct Client {
    http: reqwest::blocking::Client,
    options: RegistryOptions,
    auth: Mutex<HashMap<(String, String), Auth>>,
    credentials: Mutex<HashMap<String, Option<Credentials>>>,
}

impl Client {
    /// A client with these options.
    pub fn new(options: &RegistryOptions) -> Result<Client, RegistryError> {
        let timeout = Duration::from_secs(if options.timeout_secs == 0 {
            60
        } else {
            options.timeout_secs
        });
        let mut certs = Vec::new();
        for file in &options.ca_files {
            let pem = std::fs::read(file)
                .map_err(|e| RegistryError::Setup(format!("{}: {e}", file.display())))?;
            let found = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| RegistryError::Setup(format!("{}: {e}", file.display())))?;
            certs.extend(found);
        }
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt
                .previous()
                .last()
                .is_some_and(|p| p.scheme() == "https")
                && attempt.url().scheme() != "https";
            if downgrade {
                attempt.error("redirect from HTTPS to plain HTTP refused")
            } else if attempt.previous().len() >= 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("bulwark/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(policy)
            .tls_certs_merge(certs)
            .build()
            .map_err(|e| RegistryError::Setup(e.to_string()))?;
        Ok(Client {
            http,
            options: options.clone(),
            auth: Mutex::new(HashMap::new()),
            credentials: Mutex::new(HashMap::new()),
        })
    }

    /// Fetches a manifest or index by the reference's digest or tag,
    /// refusing more than `max` bytes; verified against the reference's
    /// digest, or the `Docker-Content-Digest` header for a tag.
    pub fn manifest(&self, reference: &Reference, max: u64) -> Result<Fetched, RegistryError> {
        let url = self.url(reference, &format!("manifests/{}", reference.target()))?;
        let response = self.send(
            reference,
            Method::GET,
            &url,
            Some(MANIFEST_ACCEPT),
            false,
            None,
        )?;
        let header_digest = header(response.headers(), "docker-content-digest")
            .and_then(|d| d.parse::<Digest>().ok());
        let content_type = header(response.headers(), CONTENT_TYPE.as_str())
            .map(|t| t.split(';').next().unwrap_or("").trim().to_owned());
        let bytes = read_limited(response, max, &url)?;
        let expected = reference.digest().cloned().or(header_digest);
        let algorithm = expected
            .as_ref()
            .map_or(crate::Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::of(algorithm, &bytes);
        if let Some(expected) = expected.filter(|e| *e != digest) {
            return Err(RegistryError::Verification {
                url: url.to_string(),
                reason: format!("manifest digest mismatch: expected {expected}, got {digest}"),
            });
        }
        let declared = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            });
        let media_type = declared.or(content_type).unwrap_or_default();
        Ok(Fetched {
            bytes,
            digest,
            media_type,
        })
    }

    /// Streams a blob of the reference's repository; the stream fails at its
    /// end if the content does not hash to `digest`.
    pub fn blob(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<BlobReader, RegistryError> {
        let url = self.url(reference, &format!("blobs/{digest}"))?;
        let response = self.send(reference, Method::GET, &url, None, false, None)?;
        Ok(BlobReader {
            inner: response,
            hasher: Some(Hasher::new(digest.algorithm())),
            expected: digest.clone(),
            url: url.to_string(),
        })
    }

    /// Reads a whole blob of at most `max` bytes, verified.
    pub fn blob_bytes(
        &self,
        reference: &Reference,
        digest: &Digest,
        max: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut reader = self.blob(reference, digest)?;
        let url = reader.url.clone();
        let mut out = Vec::new();
        (&mut reader)
            .take(max + 1)
            .read_to_end(&mut out)
            .map_err(|e| RegistryError::Verification {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if out.len() as u64 > max {
            return Err(RegistryError::TooLarge { url, limit: max });
        }
        Ok(out)
    }

    /// The raw blob stream, for callers that verify it themselves (the
    /// layer walker hashes it while decompressing).
    pub(crate) fn blob_unverified(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Response, RegistryError> {
        let url = self.url(reference, &format!("blobs/{digest}"))?;
        self.send(reference, Method::GET, &url, None, false, None)
    }

    /// All tags of the reference's repository (following pagination).
    pub fn tags(&self, reference: &Reference) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url(reference, "tags/list?n=1000")?;
        let mut tags = Vec::new();
        for _ in 0..MAX_TAG_PAGES {
            let response = self.send(
                reference,
                Method::GET,
                &url,
                Some("application/json"),
                false,
                None,
            )?;
            let next = header(response.headers(), LINK.as_str()).and_then(|l| next_link(&l));
            let bytes = read_limited(response, MAX_SMALL, &url)?;
            let page: TagList =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Verification {
                    url: url.to_string(),
                    reason: format!("tag list: {e}"),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(next) => {
                    url = url
                        .join(&next)
                        .map_err(|e| RegistryError::Setup(e.to_string()))?
                }
                None => return Ok(tags),
            }
        }
        Err(RegistryError::TooLarge {
            url: url.to_string(),
            limit: MAX_TAG_PAGES as u64,
        })
    }

    /// Artifacts that refer to `subject` (OCI 1.1 referrers API), filtered
    /// by artifact type if given. Registries without the API are asked for
    /// the `sha256-<hex>` tag instead; no referrers is an empty index.
    pub fn referrers(
        &self,
        reference: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Index, RegistryError> {
        let mut path = format!("referrers/{subject}");
        if let Some(t) = artifact_type {
            path.push_str("?artifactType=");
            path.push_str(&url_escape(t));
        }
        let url = self.url(reference, &path)?;
        let mut index = match self.send(
            reference,
            Method::GET,
            &url,
            Some(media::OCI_INDEX),
            false,
            None,
        ) {
            Ok(response) => {
                let bytes = read_limited(response, MAX_SMALL, &url)?;
                parse_index(&bytes, &url)?
            }
            Err(RegistryError::Status { status: 404, .. }) => {
                let tagged = reference.with_target(Some(&referrers_tag(subject)), None);
                match self.manifest(&tagged, MAX_SMALL) {
                    Ok(fetched) => parse_index(&fetched.bytes, &url)?,
                    Err(RegistryError::Status { status: 404, .. }) => empty_index(),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        if let Some(t) = artifact_type {
            index
                .manifests
                .retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(index)
    }

    /// Uploads a blob (monolithic POST then PUT) and returns its digest.
    pub fn push_blob(&self, reference: &Reference, bytes: &[u8]) -> Result<Digest, RegistryError> {
        let digest = Digest::sha256(bytes);
        let url = self.url(reference, "blobs/uploads/")?;
        let started = self.send(reference, Method::POST, &url, None, true, Some(Vec::new()))?;
        let location = header(started.headers(), LOCATION.as_str()).ok_or_else(|| {
            RegistryError::Verification {
                url: url.to_string(),
                reason: "upload started without a Location".into(),
            }
        })?;
        let mut put = url
            .join(&location)
            .map_err(|e| RegistryError::Setup(e.to_string()))?;
        put.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        self.send(
            reference,
            Method::PUT,
            &put,
            None,
            true,
            Some(bytes.to_vec()),
        )?;
        Ok(digest)
    }

    /// Stores a manifest under the reference's tag (or digest).
    pub fn put_manifest(
        &self,
        reference: &Reference,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let url = self.url(reference, &format!("manifests/{}", reference.target()))?;
        let request = self.http.put(url.clone()).header(CONTENT_TYPE, media_type);
        self.send_built(reference, request, &url, true, Some(bytes.to_vec()))?;
        Ok(Digest::sha256(bytes))
    }

    fn url(&self, reference: &Reference, path: &str) -> Result<Url, RegistryError> {
        let scheme = if self.options.plain_http {
            "http"
        } else {
            "https"
        };
        let text = format!(
            "{scheme}://{}/v2/{}/{path}",
            reference.api_host(),
            reference.repository()
        );
        Url::parse(&text).map_err(|e| RegistryError::Setup(format!("{text}: {e}")))
    }

    fn send(
        &self,
        reference: &Reference,
        method: Method,
        url: &Url,
        accept: Option<&str>,
        push: bool,
        body: Option<Vec<u8>>,
    ) -> Result<Response, RegistryError> {
        let mut request = self.http.request(method, url.clone());
        if let Some(a) = accept {
            request = request.header(ACCEPT, a);
        }
        self.send_built(reference, request, url, push, body)
    }

    /// Sends with cached auth; on 401 answers the challenge once and retries.
    fn send_built(
        &self,
        reference: &Reference,
        request: RequestBuilder,
        url: &Url,
        push: bool,
        body: Option<Vec<u8>>,
    ) -> Result<Response, RegistryError> {
        let scope = format!(
            "repository:{}:{}",
            reference.repository(),
            if push { "pull,push" } else { "pull" }
        );
        let key = (reference.registry().to_owned(), scope.clone());
        let retry = request.try_clone();
        let cached = self.auth_lock().get(&key).cloned();
        let first = self.authorize(request, reference, cached.as_ref())?;
        let response = execute(with_body(first, body.clone()), url)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return check_status(response, url);
        }
        let challenge = header(response.headers(), WWW_AUTHENTICATE.as_str()).ok_or_else(|| {
            RegistryError::Auth {
                registry: reference.registry().to_owned(),
                reason: "401 without a WWW-Authenticate challenge".into(),
            }
        })?;
        let auth = self.answer(reference, &challenge, &scope)?;
        self.auth_lock().insert(key, auth.clone());
        let retry =
            retry.ok_or_else(|| RegistryError::Setup("request cannot be retried".into()))?;
        let second = self.authorize(retry, reference, Some(&auth))?;
        let response = execute(with_body(second, body), url)?;
        if response.status() == StatusCode::UNAUTHORIZED
            || response.status() == StatusCode::FORBIDDEN
        {
            return Err(RegistryError::Auth {
                registry: reference.registry().to_owned(),
                reason: format!(
                    "{} after authenticating{}",
                    response.status().as_u16(),
                    error_message(response)
                ),
            });
        }
        check_status(response, url)
    }

    fn authorize(
        &self,
        request: RequestBuilder,
        reference: &Reference,
        auth: Option<&Auth>,
    ) -> Result<RequestBuilder, RegistryError> {
        Ok(match auth {
            None => request,
            Some(Auth::Bearer(token)) => request.bearer_auth(token),
            Some(Auth::Basic) => {
                let c = self
                    .credentials_for(reference)?
                    .ok_or_else(|| no_credentials(reference))?;
                request.basic_auth(c.username, Some(c.password))
            }
        })
    }

    fn answer(
        &self,
        reference: &Reference,
        header: &str,
        scope: &str,
    ) -> Result<Auth, RegistryError> {
        let auth_error = |reason: String| RegistryError::Auth {
            registry: reference.registry().to_owned(),
            reason,
        };
        match challenge::parse(header).map_err(auth_error)? {
            Challenge::Basic => {
                self.credentials_for(reference)?
                    .ok_or_else(|| no_credentials(reference))?;
                Ok(Auth::Basic)
            }
            Challenge::Bearer {
                realm,
                service,
                scope: offered,
            } => {
                let token = self.fetch_token(
                    reference,
                    &realm,
                    service.as_deref(),
                    offered.as_deref().unwrap_or(scope),
                )?;
                Ok(Auth::Bearer(token))
            }
        }
    }

    fn fetch_token(
        &self,
        reference: &Reference,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let auth_error = |reason: String| RegistryError::Auth {
            registry: reference.registry().to_owned(),
            reason,
        };
        let mut url =
            Url::parse(realm).map_err(|e| auth_error(format!("token realm {realm:?}: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(auth_error(format!("token realm {realm:?} is not HTTP(S)")));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut request = self.http.get(url.clone());
        if let Some(c) = self.credentials_for(reference)? {
            if url.scheme() != "https" && !is_loopback(url.host_str().unwrap_or("")) {
                return Err(auth_error(format!(
                    "refusing to send credentials to {realm} over plain HTTP"
                )));
            }
            request = request.basic_auth(c.username, Some(c.password));
        }
        let response = execute(request, &url)?;
        if !response.status().is_success() {
            return Err(auth_error(format!(
                "token endpoint answered {}{}",
                response.status().as_u16(),
                error_message(response)
            )));
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let bytes = read_limited(response, MAX_SMALL, &url)?;
        let parsed: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| auth_error(format!("token response: {e}")))?;
        parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| auth_error("token response without a token".into()))
    }

    /// Credentials for the reference's registry: explicit ones, else the
    /// auth files. Refused over plain HTTP to a non-loopback registry.
    fn credentials_for(&self, reference: &Reference) -> Result<Option<Credentials>, RegistryError> {
        let registry = reference.registry();
        let mut cache = self
            .credentials
            .lock()
            .map_err(|_| RegistryError::Setup("credential cache poisoned".into()))?;
        if !cache.contains_key(registry) {
            let found = match &self.options.credentials {
                Some(c) => Some(c.clone()),
                None => {
                    let files = if self.options.auth_files.is_empty() {
                        credentials::default_auth_files()
                    } else {
                        self.options.auth_files.clone()
                    };
                    credentials::lookup(registry, &files)?
                }
            };
            cache.insert(registry.to_owned(), found);
        }
        let found = cache.get(registry).cloned().flatten();
        let host = reference
            .api_host()
            .rsplit_once(':')
            .map_or(reference.api_host(), |(h, _)| h);
        if found.is_some() && self.options.plain_http && !is_loopback(host) {
            return Err(RegistryError::Auth {
                registry: registry.to_owned(),
                reason:
                    "refusing to send credentials over plain HTTP to a host that is not loopback"
                        .into(),
            });
        }
        Ok(found)
    }

    fn auth_lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Auth>> {
        self.auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn with_body(request: RequestBuilder, body: Option<Vec<u8>>) -> RequestBuilder {
    match body {
        Some(b) => request
            .header(CONTENT_TYPE.as_str(), "application/octet-stream")
            .body(b),
        None => request,
    }
}

fn no_credentials(reference: &Reference) -> RegistryError {
    RegistryError::Auth {
        registry: reference.registry().to_owned(),
        reason: "the registry asks for credentials and none are configured (use --username/--password or an auth file)".into(),
    }
}

fn execute(request: RequestBuilder, url: &Url) -> Result<Response, RegistryError> {
    request.send().map_err(|source| RegistryError::Http {
        url: url.to_string(),
        source,
    })
}

fn check_status(response: Response, url: &Url) -> Result<Response, RegistryError> {
    if response.status().is_success() {
        return Ok(response);
    }
    Err(RegistryError::Status {
        url: url.to_string(),
        status: response.status().as_u16(),
        message: error_message(response),
    })
}

/// `": CODE message; ..."` from an OCI error body, or empty.
fn error_message(response: Response) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let mut body = Vec::new();
    let _ = response.take(64 * 1024).read_to_end(&mut body);
    match serde_json::from_slice::<Errors>(&body) {
        Ok(e) if !e.errors.is_empty() => {
            let parts: Vec<String> = e
                .errors
                .iter()
                .map(|i| format!("{} {}", i.code, i.message).trim().to_owned())
                .collect();
            format!(": {}", parts.join("; "))
        }
        _ => String::new(),
    }
}

fn read_limited(response: Response, max: u64, url: &Url) -> Result<Vec<u8>, RegistryError> {
    let mut out = Vec::new();
    response
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| RegistryError::Verification {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    if out.len() as u64 > max {
        return Err(RegistryError::TooLarge {
            url: url.to_string(),
            limit: max,
        });
    }
    Ok(out)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `<url>; rel="next"` from a Link header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

fn parse_index(bytes: &[u8], url: &Url) -> Result<Index, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Verification {
        url: url.to_string(),
        reason: format!("referrers index: {e}"),
    })
}

fn empty_index() -> Index {
    Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_owned()),
        manifests: Vec::new(),
        annotations: Default::default(),
    }
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A blob stream that fails at its end unless the content hashes to the
/// digest it was asked by.
pub struct BlobReader {
    inner: Response,
    hasher: Option<Hasher>,
    expected: Digest,
    url: String,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(n);
        };
        if n > 0 {
            hasher.update(&buf[..n]);
            return Ok(n);
        }
        let actual = self.hasher.take().map(Hasher::finish);
        if actual.as_ref() != Some(&self.expected) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: blob digest mismatch: expected {}, got {}",
                    self.url,
                    self.expected,
                    actual.map(|d| d.to_string()).unwrap_or_default()
                ),
            ));
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_is_extracted() {
        assert_eq!(
            next_link(r#"</v2/x/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?n=2&last=b")
        );
        assert_eq!(next_link("<a>; rel=\"prev\""), None);
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "localhost", "[::1]", "127.5.5.5"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["10.0.0.1", "example.com", "localhost.example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
