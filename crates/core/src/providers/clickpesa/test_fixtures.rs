//! What every ClickPesa test module builds its requests and replies from:
//! a configuration with canary credentials, a token as ClickPesa issues it
//! (already starting with `Bearer `) and a JSON reply.

use super::{ApiKey, ChecksumKey, ClickpesaConfig, ClientId};
use crate::providers::AccessToken;
use crate::secret::Secret;
use crate::transport::HttpResponse;

/// The live base URL, canary credentials, and `checksum_key` when given.
pub(crate) fn config(checksum_key: Option<&str>) -> ClickpesaConfig {
    ClickpesaConfig {
        base_url: "https://api.clickpesa.com/third-parties".to_owned(),
        client_id: ClientId(Secret::new("canary-client")),
        api_key: ApiKey(Secret::new("canary-api-key")),
        checksum_key: checksum_key.map(|key| ChecksumKey(Secret::new(key))),
    }
}

/// A token as ClickPesa returns it.
pub(crate) fn token() -> AccessToken {
    AccessToken {
        value: Secret::new("Bearer eyJ.tok"),
        expires: None,
    }
}

/// A JSON reply with `status` and `body`.
pub(crate) fn reply(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, body.as_bytes().to_vec())
        .with_header("content-type", "application/json")
}
