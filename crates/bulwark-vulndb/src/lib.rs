//! Bulwark's vulnerability database.
//!
//! What it does: orders package versions exactly as each ecosystem does
//! ([`version`]); reads and validates OSV records ([`osv`]) and imports them
//! from files, directories, archives, Debian DSA/DLA lists and Alpine secdb
//! ([`import`]); keeps them in one SQLite file with stored SBOM inventories,
//! findings and their events ([`store`]); matches installed packages against
//! them per the OSV specification ([`matcher`], pure logic); re-matches only
//! the stored SBOMs an import touched ([`rescan`]); scans a Bulwark SBOM
//! ([`scan`], [`sbom`]) with OpenVEX suppression ([`vex`]) and renders
//! table, JSON, SARIF and CycloneDX reports ([`report`]); judges DB
//! staleness ([`staleness`]).
//!
//! What it does not do: read images or build SBOMs (that is
//! `bulwark-image` and `bulwark-sbom`), fetch anything from the network, or
//! guess CPEs or package names.

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
