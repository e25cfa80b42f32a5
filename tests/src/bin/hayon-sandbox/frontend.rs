//! A stand-in for the Hayon front end, so that a callback's final redirect lands on a
//! page instead of a connection error.
//!
//! The host's callbacks redirect to `${frontend_url}/settings?success=…` or `?error=…`;
//! this server answers `/settings` with a page that shows that result, and `/` with a
//! pointer to the walkthrough. It knows nothing else about Hayon.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::RawQuery;
use axum::response::Html;
use axum::routing::get;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The running page server.
pub struct FrontendPage {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl FrontendPage {
    /// Serves the pages on `addr`.
    pub async fn start(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the front-end page"))?;
        let router = Router::new()
            .route("/", get(index))
            .route("/settings", get(settings));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the front-end page server stopped");
            }
        });
        Ok(Self { stop, task })
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the front-end page server task failed");
        }
    }
}

async fn index() -> Html<String> {
    Html(page(
        "Hayon sandbox",
        "<p>This page stands in for the Hayon front end. The host's callbacks end on \
         <code>/settings</code> here, with the outcome in the query string.</p>\
         <p>The walkthrough is printed by <code>hayon-sandbox</code> in its terminal.</p>",
    ))
}

async fn settings(RawQuery(query): RawQuery) -> Html<String> {
    let pairs: Vec<(String, String)> = query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    Html(page("Settings — Hayon sandbox", &outcome(&pairs)))
}

/// The result of a callback, for people: which platform connected or why it did not.
fn outcome(pairs: &[(String, String)]) -> String {
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| escape_html(value))
    };
    if let Some(success) = value("success") {
        return format!(
            "<h2 id=\"success\">Connected</h2><p>The host answered \
             <code>success={success}</code>. Ask the host for the account with the \
             <code>status</code> command of the walkthrough.</p>"
        );
    }
    if let Some(error) = value("error") {
        return format!(
            "<h2 id=\"error\">Not connected</h2><p>The host answered \
             <code>error={error}</code> (for example <code>auth_denied</code> when the \
             dialog was refused, <code>state_invalid</code> when a callback URL was used \
             twice).</p>"
        );
    }
    "<p>No <code>success</code> or <code>error</code> in the query: this page is where the \
     host's callbacks end.</p>"
        .to_owned()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title></head><body><h1>Hayon sandbox</h1>{body}</body></html>\n"
    )
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn shows_which_platform_connected() {
        let html = outcome(&pairs("success=tumblr_connected"));
        assert!(html.contains("id=\"success\""), "{html}");
        assert!(html.contains("success=tumblr_connected"), "{html}");
    }

    #[test]
    fn shows_the_error_code() {
        let html = outcome(&pairs("error=mastodon_auth_denied"));
        assert!(html.contains("id=\"error\""), "{html}");
        assert!(html.contains("error=mastodon_auth_denied"), "{html}");
    }

    #[test]
    fn query_values_cannot_inject_markup() {
        let html = outcome(&pairs("error=%3Cscript%3Ealert(1)%3C%2Fscript%3E"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
