//! The Meta Graph API client, following `shared/meta-graph-api.md`.
//!
//! What belongs here: typed Graph calls (`calls`, `types`), the HTTP plumbing with paging and
//! retries (`client`), error classification (`error`), usage-header parsing (`usage`), pacing
//! (`pacing`) and the secret newtypes (`secret`). Nothing else in hubbridge speaks HTTP to Meta.
//! `docs/meta-client.md` describes the error classes, the pacing algorithm and the retry rules.

mod calls;
mod client;
mod error;
mod pacing;
mod secret;
mod types;
mod usage;

pub use calls::AssetKind;
pub use client::{GraphClient, GraphConfig};
pub use error::{
    classify, CallKind, ErrorClass, GraphError, MetaError, RestrictionRule, ThrottleScope,
};
pub use pacing::PacingConfig;
pub use secret::{appsecret_proof, AccessToken, AppSecret, GraphAuth};
pub use types::*;
pub use usage::{
    parse_ad_account_usage, parse_app_usage, parse_buc_usage, AdAccountUsage, BucUsage, UsageReport,
};
