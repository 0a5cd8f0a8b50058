//! What apply prints: a line per tenant and the counts, or the `ApplyResult` document.

use super::*;

/// How the tenants came out.
#[derive(Default, Clone, Copy, Serialize)]
pub(super) struct Counts {
    pub(super) created: usize,
    pub(super) updated: usize,
    pub(super) renewed: usize,
    pub(super) unchanged: usize,
    pub(super) revoked: usize,
    pub(super) failed: usize,
}

impl Counts {
    pub(super) fn add(&mut self, outcome: Outcome) {
        *match outcome {
            Outcome::Created => &mut self.created,
            Outcome::Updated => &mut self.updated,
            Outcome::Renewed => &mut self.renewed,
            Outcome::Unchanged => &mut self.unchanged,
            Outcome::Revoked => &mut self.revoked,
            Outcome::Failed => &mut self.failed,
        } += 1;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} renewed, {} unchanged, {} revoked, {} failed",
            self.created, self.updated, self.renewed, self.unchanged, self.revoked, self.failed
        )
    }
}

/// One tenant's line of the result.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Report {
    /// The user.
    pub(super) user: String,
    /// What happened (or, in a dry run, would).
    pub(super) action: Outcome,
    /// What changed, or why it failed.
    pub(super) detail: String,
    /// The kubeconfig written for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) kubeconfig: Option<String>,
    /// Warnings (also on stderr as they happen).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) warnings: Vec<String>,
}

impl Report {
    pub(super) fn planned(action: &Action) -> Self {
        Self {
            user: action.user().to_owned(),
            action: action.outcome(),
            detail: action.describe(),
            kubeconfig: None,
            warnings: Vec::new(),
        }
    }
}

/// What `-o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ApplyResult<'a> {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) dry_run: bool,
    pub(super) summary: Counts,
    pub(super) tenants: &'a [Report],
}

pub(super) fn print(
    reports: &[Report],
    settings: &Settings,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let mut summary = Counts::default();
    for r in reports {
        summary.add(r.action);
    }
    let result = ApplyResult {
        api_version: API_VERSION,
        kind: if settings.dry_run {
            "ApplyPlan"
        } else {
            "ApplyResult"
        },
        dry_run: settings.dry_run,
        summary,
        tenants: reports,
    };
    out.document(settings.format, &result, |out, r| {
        let mut rows = vec![[
            "USER".to_owned(),
            if r.dry_run { "PLAN" } else { "RESULT" }.to_owned(),
            "DETAIL".to_owned(),
        ]];
        rows.extend(r.tenants.iter().map(|t| {
            [
                t.user.clone(),
                t.action.to_string(),
                match &t.kubeconfig {
                    Some(k) => format!("{} -> {k}", t.detail),
                    None => t.detail.clone(),
                },
            ]
        }));
        out.table(&rows)?;
        say!(
            out,
            "{}{}",
            if r.dry_run {
                "dry run, nothing changed: "
            } else {
                ""
            },
            r.summary
        );
        Ok(())
    })
}
