//! The gate's [`Enricher`]: reads the layers of the image whose manifest was
//! verified, for what policies need beyond manifests and signatures:
//! vulnerability findings (a `bulwark-sbom` catalog matched against the
//! local `bulwark-vulndb` store, read-only) and the set-uid/set-gid files
//! that survive in the image (a `bulwark-image` walk). A policy that needs
//! both gets them from one walk: the set-id visitor rides along with the
//! catalogers (`bulwark_sbom::scan_with`), so the layers are decompressed,
//! and from a registry downloaded, once.
//!
//! The image is opened by the digest the evidence was collected for and
//! refused if the walker lands on another manifest, so the findings and
//! files are those of the image being admitted. Any failure becomes
//! `Some(Err(why))` in the evidence: the rules that need it fail closed.

mod findings;
pub(crate) mod setuid;

use std::path::PathBuf;
use std::sync::Arc;

use bulwark_image::registry::RegistryOptions;
use bulwark_image::{Image, ImageInput, OpenOptions};
use bulwark_sbom::catalog::Limits;
use bulwark_trust::evidence::{ImageEvidence, Needs};
use bulwark_trust::gate::Enricher;
use bulwark_vulndb::store::Store;

pub use findings::VulnSource;
use setuid::SetIdFiles;

use super::LayoutStore;

/// Where the layers come from: the same place as the manifests.
pub enum LayerSource {
    Layout(Arc<LayoutStore>),
    Registry(RegistryOptions),
}

pub struct Inspector {
    pub source: LayerSource,
    pub vulns: VulnSource,
}

impl Inspector {
    fn open(&self, ev: &ImageEvidence) -> Result<Image, String> {
        let want = ev
            .platform_digest
            .as_ref()
            .unwrap_or(&ev.digest)
            .to_string();
        let (input, registry) = match &self.source {
            LayerSource::Layout(layout) => {
                let name = layout.ref_name(&ev.digest).ok_or_else(|| {
                    format!(
                        "{} is not named in {}/index.json: its layers cannot be read",
                        ev.digest,
                        layout.root().display()
                    )
                })?;
                let input = ImageInput::OciLayout {
                    path: PathBuf::from(layout.root()),
                    name: Some(name.to_string()),
                };
                (input, RegistryOptions::default())
            }
            LayerSource::Registry(options) => {
                let pinned = format!("{}@{}", ev.reference.name(), ev.digest);
                let reference = pinned.parse().map_err(|e| format!("{pinned}: {e}"))?;
                (ImageInput::Registry(reference), options.clone())
            }
        };
        let options = OpenOptions {
            registry,
            ..OpenOptions::default()
        };
        let image = Image::open_input(&input, &options).map_err(|e| e.to_string())?;
        match image.manifest_digest().map(ToString::to_string) {
            Some(got) if got == want => Ok(image),
            got => Err(format!(
                "the layers read belong to manifest {}, not to the verified {want}",
                got.as_deref().unwrap_or("(none)")
            )),
        }
    }
}

impl Enricher for Inspector {
    fn enrich(&self, ev: &mut ImageEvidence, needs: Needs) {
        let image = match self.open(ev) {
            Ok(image) => image,
            Err(why) => {
                if needs.findings {
                    ev.findings = Some(Err(why.clone()));
                }
                if needs.setuid_files {
                    ev.setuid_files = Some(Err(why));
                }
                return;
            }
        };
        let store = needs.findings.then(|| self.vulns.store());
        match store {
            Some(Ok(store)) => self.catalog(&image, &store, ev, needs.setuid_files),
            Some(Err(why)) => {
                ev.findings = Some(Err(why));
                if needs.setuid_files {
                    ev.setuid_files = Some(setuid::files(&image));
                }
            }
            None if needs.setuid_files => ev.setuid_files = Some(setuid::files(&image)),
            None => {}
        }
    }
}

impl Inspector {
    /// Findings, and the set-id files when `setuid` asks for them, from one
    /// walk of the image.
    fn catalog(&self, image: &Image, store: &Store, ev: &mut ImageEvidence, setuid: bool) {
        let name = ev.reference.to_string();
        let set_ids = setuid.then(SetIdFiles::default);
        match bulwark_sbom::scan_with(image, &name, Limits::default(), set_ids) {
            Ok((sbom, kept)) => {
                ev.findings = Some(self.vulns.findings(store, &sbom, &ev.reference, &ev.digest));
                if setuid {
                    ev.setuid_files = Some(Ok(setuid::survivors(kept)));
                }
            }
            Err(e) => {
                ev.findings = Some(Err(format!("cataloging {name}: {e}")));
                if setuid {
                    ev.setuid_files = Some(Err(e.to_string()));
                }
            }
        }
    }
}
