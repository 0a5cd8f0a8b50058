//! One SubjectAccessReview (`authorization.k8s.io/v1`) in, one decision out. The webhook only
//! ever denies (a revoked credential, or — when the API server sends no credential id — a
//! revoked user) or has no opinion, so the next authorizer (Node, RBAC) decides. Pure.
//!
//! The wire format is the API server's: `staging/src/k8s.io/apiserver/plugin/pkg/authorizer/
//! webhook/webhook.go` posts a SubjectAccessReview with the user, groups and extra (where the
//! X.509 authenticator of v1.32+ puts `authentication.kubernetes.io/credential-id`,
//! `staging/src/k8s.io/apiserver/pkg/authentication/request/x509/x509.go`) and reads back
//! `status.allowed`, `status.denied`, `status.reason`.

use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewStatus};

use super::index::{RevokedIndex, parse_fingerprint};

/// The user-info extra key of the credential id.
pub const CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";
/// The prefix of an X.509 credential id.
pub const X509_PREFIX: &str = "X509SHA256=";
/// `status.reason` of a denial names the webhook, so `revoke` can tell its answer apart.
pub const REASON_PREFIX: &str = "tenantctl: revoked";

/// What the webhook answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A revoked certificate.
    DeniedCredential,
    /// A revoked user, no credential id to tell its certificates apart.
    DeniedUser,
    /// Not revoked: the next authorizer decides.
    NoOpinion,
}

impl Decision {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::DeniedCredential => "denied_credential",
            Self::DeniedUser => "denied_user",
            Self::NoOpinion => "no_opinion",
        }
    }
}

/// Why a request is not a review.
#[derive(Debug, PartialEq, Eq)]
pub struct BadReview(pub String);

/// Reads `body` as a SubjectAccessReview and decides; returns the answer's JSON and the
/// decision.
pub fn review(index: &RevokedIndex, body: &[u8]) -> Result<(Vec<u8>, Decision), BadReview> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| BadReview(format!("not JSON: {e}")))?;
    match (value.get("apiVersion"), value.get("kind")) {
        (Some(v), Some(k)) if v == "authorization.k8s.io/v1" && k == "SubjectAccessReview" => {}
        (v, k) => {
            return Err(BadReview(format!(
                "expected apiVersion authorization.k8s.io/v1, kind SubjectAccessReview; got {}, {}",
                v.map_or_else(|| "none".into(), ToString::to_string),
                k.map_or_else(|| "none".into(), ToString::to_string)
            )));
        }
    }
    let sar: SubjectAccessReview = serde_json::from_value(value)
        .map_err(|e| BadReview(format!("not a SubjectAccessReview: {e}")))?;
    let decision = decide(index, &sar);
    let reason = match decision {
        Decision::DeniedCredential => Some(format!(
            "{REASON_PREFIX} credential (tenantctl revoke); this certificate no longer grants anything"
        )),
        Decision::DeniedUser => Some(format!(
            "{REASON_PREFIX} user {:?} (tenantctl revoke)",
            sar.spec.user.as_deref().unwrap_or_default()
        )),
        Decision::NoOpinion => None,
    };
    let answer = SubjectAccessReview {
        metadata: Default::default(),
        spec: Default::default(),
        status: Some(SubjectAccessReviewStatus {
            allowed: false,
            denied: Some(decision != Decision::NoOpinion),
            reason,
            evaluation_error: None,
        }),
    };
    let mut json = serde_json::to_value(&answer).map_err(|e| BadReview(e.to_string()))?;
    // The API server reads only status; an empty spec would not be a valid object to echo.
    if let Some(obj) = json.as_object_mut() {
        obj.remove("spec");
        obj.remove("metadata");
    }
    let bytes = serde_json::to_vec(&json).map_err(|e| BadReview(e.to_string()))?;
    Ok((bytes, decision))
}

/// The decision for one review.
pub fn decide(index: &RevokedIndex, sar: &SubjectAccessReview) -> Decision {
    let ids = sar
        .spec
        .extra
        .as_ref()
        .and_then(|e| e.get(CREDENTIAL_ID))
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut had_x509 = false;
    for id in ids {
        if let Some(hex) = id.strip_prefix(X509_PREFIX) {
            had_x509 = true;
            if parse_fingerprint(hex).is_some_and(|id| index.is_revoked(&id)) {
                return Decision::DeniedCredential;
            }
        }
    }
    // Without a credential id (API servers before v1.32) only a whole revoked user can be told.
    if !had_x509
        && ids.is_empty()
        && sar
            .spec
            .user
            .as_deref()
            .is_some_and(|u| index.is_revoked_user(u))
    {
        return Decision::DeniedUser;
    }
    Decision::NoOpinion
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(user: &str, id: Option<&str>) -> Vec<u8> {
        let extra = id.map_or_else(
            || serde_json::json!({}),
            |id| serde_json::json!({ CREDENTIAL_ID: [id] }),
        );
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["dev", "system:authenticated"],
                "extra": extra,
                "resourceAttributes": {"verb": "get", "resource": "configmaps", "namespace": "team-a"}
            }
        }))
        .unwrap()
    }

    #[test]
    fn denies_only_what_is_revoked() {
        let index = RevokedIndex::from_ids([[0xaa; 32]]);
        let revoked = format!("{X509_PREFIX}{}", "aa".repeat(32));
        let fine = format!("{X509_PREFIX}{}", "bb".repeat(32));
        let (answer, d) = review(&index, &body("alice", Some(&revoked))).unwrap();
        assert_eq!(d, Decision::DeniedCredential);
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["status"]["denied"], true);
        assert_eq!(answer["status"]["allowed"], false);
        assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1");
        assert!(
            answer["status"]["reason"]
                .as_str()
                .unwrap()
                .starts_with(REASON_PREFIX)
        );
        assert_eq!(
            review(&index, &body("alice", Some(&fine))).unwrap().1,
            Decision::NoOpinion
        );
        assert_eq!(
            review(&index, &body("alice", None)).unwrap().1,
            Decision::NoOpinion
        );
    }

    #[test]
    fn bad_requests_are_errors_not_decisions() {
        let index = RevokedIndex::default();
        assert!(
            review(&index, b"{not json")
                .unwrap_err()
                .0
                .starts_with("not JSON")
        );
        let wrong = br#"{"apiVersion":"authorization.k8s.io/v1beta1","kind":"SubjectAccessReview","spec":{}}"#;
        assert!(review(&index, wrong).unwrap_err().0.contains("v1beta1"));
        let wrong_kind =
            br#"{"apiVersion":"authorization.k8s.io/v1","kind":"TokenReview","spec":{}}"#;
        assert!(review(&index, wrong_kind).is_err());
        assert!(review(&index, b"[]").is_err());
    }
}
