//! Registry client (OCI distribution API).

use crate::error::ImageError;
use crate::image::{Image, OpenOptions};
use crate::reference::Reference;

/// Registry access options.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {}

/// Why a registry request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {}

pub(crate) fn open_image(
    reference: &Reference,
    _options: &OpenOptions,
) -> Result<Image, ImageError> {
    Err(ImageError::Unsupported {
        input: reference.to_string(),
        what: "registry".into(),
    })
}
