//! JWT-SVIDs: ES256 issuance and validation per `standards/JWT-SVID.md`,
//! and the JWKs that carry their keys in bundles.

mod jwk;
mod token;

pub use jwk::{Curve, Jwk, JwkError, JwtPublicKey};
pub(crate) use jwk::{b64_std, b64_std_decode};
pub use token::{
    JwtBundleSource, JwtIssueError, JwtSigner, JwtSvid, JwtSvidError, MAX_TOKEN_LEN,
    VerifiedJwtSvid, validate_jwt_svid,
};
