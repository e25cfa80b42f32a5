//! Failure injection: make an endpoint answer like a broken load balancer, an overloaded
//! service or a rate limiter instead of doing its job.

use std::time::Duration;

use crate::Service;

/// The endpoints of the double, as fault and log targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `com.atproto.server.createSession`
    CreateSession,
    /// `com.atproto.server.refreshSession`
    RefreshSession,
    /// `com.atproto.server.getSession`
    GetSession,
    /// `com.atproto.server.deleteSession`
    DeleteSession,
    /// `app.bsky.actor.getProfile`
    GetProfile,
    /// `com.atproto.identity.resolveHandle`
    ResolveHandle,
    /// `GET /<did>` on the PLC directory
    DidDocument,
    /// `GET /.well-known/atproto-did`
    WellKnownDid,
}

impl Endpoint {
    /// The endpoint a request path names, if any.
    pub fn from_path(service: Service, path: &str) -> Option<Self> {
        if service == Service::Plc {
            return path.strip_prefix("/did:").map(|_| Endpoint::DidDocument);
        }
        if path == "/.well-known/atproto-did" {
            return Some(Endpoint::WellKnownDid);
        }
        match path.strip_prefix("/xrpc/")? {
            "com.atproto.server.createSession" => Some(Endpoint::CreateSession),
            "com.atproto.server.refreshSession" => Some(Endpoint::RefreshSession),
            "com.atproto.server.getSession" => Some(Endpoint::GetSession),
            "com.atproto.server.deleteSession" => Some(Endpoint::DeleteSession),
            "app.bsky.actor.getProfile" => Some(Endpoint::GetProfile),
            "com.atproto.identity.resolveHandle" => Some(Endpoint::ResolveHandle),
            _ => None,
        }
    }
}

/// What a faulty endpoint does instead of answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 502 with an nginx-style HTML page.
    Html502,
    /// 502 `{"error":"UpstreamFailure"}`.
    UpstreamFailure502,
    /// 503 `{"error":"NotEnoughResources"}`.
    NotEnoughResources503,
    /// 504 with an HTML page.
    GatewayTimeout504,
    /// 200 with `Content-Type: application/json` and no body at all.
    EmptyBody,
    /// 200 with a JSON body cut off in the middle.
    TruncatedJson,
    /// 429 `RateLimitExceeded` with the four `RateLimit-*` headers; the window resets
    /// this long after the double's now.
    RateLimited {
        /// Time until `RateLimit-Reset`.
        reset_in: Duration,
    },
    /// Waits this long (real time), then answers normally.
    Delay(Duration),
}

/// A fault bound to an endpoint, optionally to one service and a number of uses.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub(crate) endpoint: Endpoint,
    pub(crate) fault: Fault,
    pub(crate) service: Option<Service>,
    pub(crate) remaining: Option<u32>,
}

impl FaultRule {
    /// `fault` on every request to `endpoint`, on every service, until cleared.
    pub fn new(endpoint: Endpoint, fault: Fault) -> Self {
        Self {
            endpoint,
            fault,
            service: None,
            remaining: None,
        }
    }

    /// Only on this service.
    pub fn on(mut self, service: Service) -> Self {
        self.service = Some(service);
        self
    }

    /// Only for the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Takes one use of the rule for this request, if it applies.
    pub(crate) fn take(&mut self, service: Service, endpoint: Endpoint) -> Option<Fault> {
        let applies = self.endpoint == endpoint && self.service.is_none_or(|s| s == service);
        match (&mut self.remaining, applies) {
            (_, false) | (Some(0), true) => None,
            (Some(n), true) => {
                *n -= 1;
                Some(self.fault.clone())
            }
            (None, true) => Some(self.fault.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rule_runs_out_and_respects_its_service() {
        let mut rule = FaultRule::new(Endpoint::CreateSession, Fault::Html502)
            .on(Service::Entryway)
            .times(1);
        assert_eq!(
            rule.take(Service::BlueskyPds, Endpoint::CreateSession),
            None
        );
        assert_eq!(rule.take(Service::Entryway, Endpoint::GetProfile), None);
        assert_eq!(
            rule.take(Service::Entryway, Endpoint::CreateSession),
            Some(Fault::Html502)
        );
        assert_eq!(rule.take(Service::Entryway, Endpoint::CreateSession), None);
    }

    #[test]
    fn paths_map_to_endpoints() {
        let xrpc = |nsid: &str| Endpoint::from_path(Service::Entryway, &format!("/xrpc/{nsid}"));
        assert_eq!(
            xrpc("com.atproto.server.refreshSession"),
            Some(Endpoint::RefreshSession)
        );
        assert_eq!(xrpc("com.atproto.server.nope"), None);
        assert_eq!(
            Endpoint::from_path(Service::Plc, "/did:plc:x"),
            Some(Endpoint::DidDocument)
        );
        assert_eq!(
            Endpoint::from_path(Service::Plc, "/xrpc/app.bsky.actor.getProfile"),
            None
        );
    }
}
