//! The decision point shared by `bulwark verify`, the admission webhook and
//! the OCI hook: resolve an image, gather its evidence, evaluate the
//! policies, and cache the verdict keyed by (reference, digest, policy
//! generation, trust root, namespace).
//!
//! The gate itself does no I/O; the [`ArtifactStore`] it is given does.

mod cache;

use std::sync::Arc;
use std::time::Duration;

use bulwark_core::{Clock, SystemClock};

use crate::digest::Digest;
use crate::evidence::{self, ArtifactStore, CollectError, ImageEvidence, Needs, StoreError};
use crate::policy::{PolicySet, Verdict, evaluate};
use crate::reference::ImageRef;
use crate::signature::TrustRoot;
use cache::TtlCache;

/// Adds what the store's manifests cannot give: vulnerability findings
/// (the image scanned against the vulnerability database) and set-uid files
/// (from walking the layers). Implemented at the edge; it must read the
/// image `evidence.digest` names (and `platform_digest` for an index), and
/// record a failure as `Some(Err(why))` so that the rules fail closed.
pub trait Enricher: Send + Sync {
    fn enrich(&self, evidence: &mut ImageEvidence, needs: Needs);
}

/// Why the gate could not reach a verdict (the caller fails closed).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("resolve {image}: {source}")]
    Resolve {
        image: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Collect(#[from] CollectError),
}

/// Cache sizes and lifetimes.
#[derive(Clone, Debug)]
pub struct GateOptions {
    /// How long a verdict is reused. Shorter than key/certificate
    /// revocation windows you care about.
    pub verdict_ttl: Duration,
    /// How long a tag's digest is trusted before resolving again.
    pub tag_ttl: Duration,
    pub capacity: usize,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions {
            verdict_ttl: Duration::from_secs(300),
            tag_ttl: Duration::from_secs(30),
            capacity: 10_000,
        }
    }
}

type VerdictKey = (String, Digest, Digest, Option<Digest>, Option<String>);

/// Policies, trust root, store and caches.
pub struct Gate {
    store: Arc<dyn ArtifactStore>,
    policies: PolicySet,
    root: Option<TrustRoot>,
    enricher: Option<Arc<dyn Enricher>>,
    verdicts: TtlCache<VerdictKey, Arc<Verdict>>,
    tags: TtlCache<String, Digest>,
}

impl Gate {
    pub fn new(
        store: Arc<dyn ArtifactStore>,
        policies: PolicySet,
        root: Option<TrustRoot>,
        options: GateOptions,
    ) -> Gate {
        Gate::with_clock(store, policies, root, options, Arc::new(SystemClock))
    }

    pub fn with_clock(
        store: Arc<dyn ArtifactStore>,
        policies: PolicySet,
        root: Option<TrustRoot>,
        options: GateOptions,
        clock: Arc<dyn Clock>,
    ) -> Gate {
        Gate {
            store,
            policies,
            root,
            enricher: None,
            verdicts: TtlCache::new(options.verdict_ttl, options.capacity, clock.clone()),
            tags: TtlCache::new(options.tag_ttl, options.capacity, clock),
        }
    }

    pub fn with_enricher(mut self, enricher: Arc<dyn Enricher>) -> Gate {
        self.enricher = Some(enricher);
        self
    }

    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The digest `image` names now (its own digest, a cached tag, or the store).
    pub fn resolve(&self, image: &ImageRef) -> Result<Digest, GateError> {
        if let Some(d) = image.digest() {
            return Ok(d.clone());
        }
        let key = image.to_string();
        if let Some(d) = self.tags.get(&key) {
            return Ok(d);
        }
        let fetched = self
            .store
            .manifest(image)
            .map_err(|source| GateError::Resolve {
                image: key.clone(),
                source,
            })?;
        self.tags.insert(key, fetched.digest.clone());
        Ok(fetched.digest)
    }

    /// The verdict for `image` admitted into `namespace`.
    pub fn decide(
        &self,
        image: &ImageRef,
        namespace: Option<&str>,
    ) -> Result<Arc<Verdict>, GateError> {
        let digest = self.resolve(image)?;
        let key: VerdictKey = (
            image.to_string(),
            digest.clone(),
            self.policies.generation().clone(),
            self.root.as_ref().map(|r| r.id().clone()),
            namespace.map(str::to_string),
        );
        if let Some(hit) = self.verdicts.get(&key) {
            return Ok(hit);
        }
        let mut ev = evidence::collect(
            self.store.as_ref(),
            &image.with_digest(digest),
            &self.policies.trusted_bases(),
        )?;
        ev.reference = image.clone();
        let needs = self.policies.needs(image, namespace);
        if let (Some(enricher), true) = (&self.enricher, needs.any()) {
            enricher.enrich(&mut ev, needs);
        }
        let verdict = Arc::new(evaluate(&self.policies, &ev, namespace, self.root.as_ref()));
        self.verdicts.insert(key, verdict.clone());
        Ok(verdict)
    }

    /// Number of cached verdicts (for metrics and tests).
    pub fn cached_verdicts(&self) -> usize {
        self.verdicts.len()
    }
}
