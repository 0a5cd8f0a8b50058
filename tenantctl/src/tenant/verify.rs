//! Verification as the tenant: the API server must see the tenant's user name and groups
//! (SelfSubjectReview), and allow a rule of each bound role (SelfSubjectAccessReview).

use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::Client;

use super::{RoleRef, Tenant};
use crate::{cluster, error::Error};

/// Asks the API server, as the tenant, who it is and whether each role works: the user name
/// and groups must be the tenant's, and the first resource rule of each role must be allowed.
pub async fn verify(
    client: &Client,
    retry: &cluster::Retry,
    tenant: &Tenant,
    namespace: Option<&str>,
    rules: &[(RoleRef, Vec<PolicyRule>)],
) -> Result<String, Error> {
    let expected = tenant.username_in_cluster(namespace);
    let mut summary = String::new();
    match cluster::whoami(client, retry).await? {
        Some(who) => {
            if who.username != expected {
                return Err(Error::Verify {
                    message: format!(
                        "the API server sees {:?}, expected {expected:?}",
                        who.username
                    ),
                });
            }
            if let Some(g) = tenant.groups().iter().find(|g| !who.groups.contains(g)) {
                return Err(Error::Verify {
                    message: format!(
                        "the API server does not see group {g:?} (it sees {})",
                        who.groups.join(", ")
                    ),
                });
            }
            summary.push_str(&format!(
                "the API server sees {} (groups {})",
                who.username,
                who.groups.join(", ")
            ));
        }
        None => summary.push_str(&format!(
            "authenticated as {expected} (SelfSubjectReview unavailable)"
        )),
    }
    let mut checks = Vec::new();
    for (role, rules) in rules {
        let Some((verb, group, resource)) = sample(rules) else {
            checks.push(format!("{role} has no resource rules to check"));
            continue;
        };
        if !cluster::can_i(client, retry, &verb, &group, &resource, namespace).await? {
            return Err(Error::Verify {
                message: format!(
                    "{expected} may not {verb} {resource}{} although {role} allows it",
                    namespace.map(|n| format!(" in {n}")).unwrap_or_default()
                ),
            });
        }
        let group = if group.is_empty() {
            String::new()
        } else {
            format!(".{group}")
        };
        checks.push(format!(
            "can {verb} {resource}{group} {} ({role})",
            namespace.map_or_else(|| "cluster-wide".to_owned(), |n| format!("in {n}"))
        ));
    }
    Ok(format!("{summary}; {}", checks.join("; ")))
}

/// The first checkable (verb, group, resource) of a role's rules.
pub(super) fn sample(rules: &[PolicyRule]) -> Option<(String, String, String)> {
    rules.iter().find_map(|r| {
        let verb = r.verbs.first()?;
        let group = r.api_groups.as_ref()?.first()?;
        let resource = r
            .resources
            .as_ref()?
            .iter()
            .find(|res| !res.contains('/'))?;
        Some((verb.clone(), group.clone(), resource.clone()))
    })
}
