//! Bulwark's vulnerability database.
//!
//! What it does: orders package versions exactly as each ecosystem does
//! ([`version`]).
//!
//! What it does not do: read images or build SBOMs (that is
//! `bulwark-image` and `bulwark-sbom`), or fetch anything from the network.

pub mod version;
