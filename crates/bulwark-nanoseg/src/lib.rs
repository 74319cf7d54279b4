//! The agent's nano-segmentation stage and the profile store.
//!
//! - [`ProfileStore`]: `DATA/profiles/*.yaml`, one document per workload,
//!   atomic writes, one lock shared by the agent and `bulwark profile`.
//! - [`Stage`]: sensor events through [`bulwark_profile::Engine`]; alerts to
//!   a [`bulwark_alert::Router`]; every mode change, new image version and
//!   aged rule to the [`bulwark_audit::AuditLog`] (a change that cannot be
//!   recorded is rolled back); profiles synced with the store, edits on
//!   disk winning over memory; profiles pushed by the control plane applied
//!   (validated, audited, then swapped in) with [`Stage::apply_pushed`].
//! - [`ImageFiles`]: which executables each container's image holds, for
//!   drift detection.
//!
//! It does not read the kernel (bulwark-sensor does), decide anything (the
//! engine does), or block anything (bulwark-enforce does).

mod audit;
mod error;
mod facts;
mod stage;
mod store;

pub use audit::entry_for;
pub use error::{PushFailure, StageError, StoreError};
pub use facts::{ImageFiles, MAX_CONTAINERS, MAX_FILES};
pub use stage::{MAX_PUSHED_BYTES, PushOutcome, Stage, StageConfig, StageStats, error_chain};
pub use store::{Listed, ProfileStore, Stamp, StoreLock, file_name};
