//! Bulwark's vulnerability database.
//!
//! What it does: orders package versions exactly as each ecosystem does
//! ([`version`]), reads and validates OSV records ([`osv`]), knows the OSV
//! ecosystems and their release suffixes ([`ecosystem`]).
//!
//! What it does not do: read images or build SBOMs (that is
//! `bulwark-image` and `bulwark-sbom`), or fetch anything from the network.

pub mod ecosystem;
pub mod import;
pub mod matcher;
pub mod osv;
pub mod report;
pub mod rescan;
pub mod sbom;
pub mod scan;
pub mod staleness;
pub mod store;
pub mod time_fmt;
pub mod version;
pub mod vex;
