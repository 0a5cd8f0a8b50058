//! Verification as the tenant: the API server must see the tenant's user name and groups
//! (SelfSubjectReview), and allow a rule of each bound role (SelfSubjectAccessReview, polled
//! until the authorizer's cache has the new binding: [`cluster::until_allowed`]).

use std::time::Duration;

use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::Client;

use super::{RoleRef, Tenant};
use crate::{cluster, error::Error};

/// What verification found: one line for people, and warnings (a role that grants nothing).
#[derive(Debug, Default)]
pub struct Verified {
    /// "the API server sees alice (groups …); can get pods in team-a (ClusterRole/view)".
    pub summary: String,
    /// Roles whose rules could not be checked, each a sentence.
    pub warnings: Vec<String>,
}

/// Asks the API server, as the tenant, who it is and whether each role works: the user name
/// and groups must be the tenant's, and the first resource rule of each role must be allowed
/// within `wait` (the authorizer sees a new binding with a lag).
pub async fn verify(
    client: &Client,
    retry: &cluster::Retry,
    tenant: &Tenant,
    namespace: Option<&str>,
    rules: &[(RoleRef, Vec<PolicyRule>)],
    wait: Duration,
) -> Result<Verified, Error> {
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
    let (probes, warnings) = probes(&expected, namespace, rules);
    for Probe {
        role,
        verb,
        group,
        resource,
        what,
    } in probes
    {
        cluster::until_allowed(&what, wait, || {
            cluster::can_i(client, retry, &verb, &group, &resource, namespace)
        })
        .await?;
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
    if !checks.is_empty() {
        summary.push_str("; ");
        summary.push_str(&checks.join("; "));
    }
    Ok(Verified { summary, warnings })
}

/// The warning for a role with no resource rule to check: with no rules at all the tenant can
/// do nothing (an aggregated ClusterRole such as `view` is empty until kube-controller-manager
/// aggregates it), which must never pass silently.
pub(super) fn grants_nothing(role: &RoleRef, rules: &[PolicyRule]) -> String {
    if rules.is_empty() {
        format!("{role} has no rules: the tenant can do nothing")
    } else {
        format!("{role} has only non-resource rules: nothing was checked")
    }
}

/// One access to ask the authorizer about: a rule of `role`, and the sentence naming it.
pub(super) struct Probe<'a> {
    pub(super) role: &'a RoleRef,
    pub(super) verb: String,
    pub(super) group: String,
    pub(super) resource: String,
    /// "alice may get pods in team-a as ClusterRole/view allows".
    pub(super) what: String,
}

/// A probe per role that has a resource rule, as `user` sees it in `namespace`, and a warning
/// per role that has none ([`grants_nothing`]).
pub(super) fn probes<'a>(
    user: &str,
    namespace: Option<&str>,
    rules: &'a [(RoleRef, Vec<PolicyRule>)],
) -> (Vec<Probe<'a>>, Vec<String>) {
    let mut probes = Vec::new();
    let mut warnings = Vec::new();
    for (role, rules) in rules {
        let Some((verb, group, resource)) = sample(rules) else {
            warnings.push(grants_nothing(role, rules));
            continue;
        };
        let what = format!(
            "{user} may {verb} {resource}{} as {role} allows",
            namespace.map(|n| format!(" in {n}")).unwrap_or_default()
        );
        probes.push(Probe {
            role,
            verb,
            group,
            resource,
            what,
        });
    }
    (probes, warnings)
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
