//! Kubernetes audit events (`audit.k8s.io/v1`, `kind: Event`), one JSON object per line.
//!
//! - identity: `user.username` (service accounts are `system:serviceaccount:NS:NAME`, kept whole).
//! - source: `sourceIPs[0]` (the client; proxies are appended after it), mapped by `--hosts`.
//! - destination: the namespace reached, `k8s:NAMESPACE` (`objectRef.namespace`), or
//!   `k8s:cluster` for cluster-scoped resources and non-resource URLs.
//! - service: `VERB RESOURCE[/SUBRESOURCE]` (`create pods/exec`), or `VERB PATH` for non-resource
//!   requests.
//! - credential: `user.extra["authentication.kubernetes.io/credential-id"][0]` (`JTI=…`,
//!   `X509SHA256=…`); protocol `mtls` for certificates, `oauth` (bearer tokens) otherwise.
//! - outcome: failure for `responseStatus.code` ≥ 400, an `authorization.k8s.io/decision` of
//!   `forbid`, or stage `Panic`.
//!
//! One event per request: `RequestReceived` is skipped; connection-upgrading subresources
//! (`exec`, `attach`, `portforward`, `proxy`) count at `ResponseStarted`, everything else at
//! `ResponseComplete` (or `Panic`). Time: `requestReceivedTimestamp`, else `timestamp`.

use crate::json::{self, get};
use crate::norm::{self, present};
use crate::{name, DecodeError, LineDecoder};
use reachwatch_model::{AuthEvent, AuthProtocol, Event, Interner, LogonType, Orientation, Outcome};
use serde_json::Value;

/// Decoder for Kubernetes audit events (auth stream).
#[derive(Clone, Copy, Debug, Default)]
pub struct Decoder;

fn upgrading(sub: Option<&str>) -> bool {
    matches!(sub, Some("exec" | "attach" | "portforward" | "proxy"))
}

impl LineDecoder for Decoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let v = json::object(line)?;
        let stage = json::text(&v, &["stage"])?;
        let sub = json::text(&v, &["objectRef.subresource"])?;
        let sub = present(sub.as_deref());
        let counted = match stage.as_deref() {
            None | Some("Panic") => true,
            Some("ResponseStarted") => upgrading(sub),
            Some("ResponseComplete") => !upgrading(sub),
            Some(_) => false,
        };
        if !counted {
            return Ok(None);
        }
        let time = json::time(&v, &["requestReceivedTimestamp", "timestamp"])?;
        let user = json::text(&v, &["user.username"])?;
        let user = present(user.as_deref()).ok_or_else(|| norm::missing("user.username"))?;
        let identity = name(syms, "user.username", user.as_bytes())?;
        let ip = match get(&v, "sourceIPs") {
            None => None,
            Some(Value::Array(a)) => match a.first() {
                None => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => return Err(norm::unknown_value("sourceIPs[0]", "non-text", "text")),
            },
            Some(_) => return Err(norm::unknown_value("sourceIPs", "non-array", "an array")),
        };
        let src = norm::host_or_ip(syms, "sourceIPs", None, ip)?;
        let verb = json::text(&v, &["verb"])?;
        let verb = present(verb.as_deref()).ok_or_else(|| norm::missing("verb"))?;
        let ns = json::text(&v, &["objectRef.namespace"])?;
        let resource = json::text(&v, &["objectRef.resource"])?;
        let dst = match present(ns.as_deref()) {
            Some(ns) if present(resource.as_deref()).is_some() => format!("k8s:{ns}"),
            _ => "k8s:cluster".to_string(),
        };
        let dst = name(syms, "objectRef.namespace", dst.as_bytes())?;
        let service = match present(resource.as_deref()) {
            Some(r) => match sub {
                Some(s) => format!("{verb} {r}/{s}"),
                None => format!("{verb} {r}"),
            },
            None => {
                let uri = json::text(&v, &["requestURI"])?;
                let path = uri.as_deref().unwrap_or("/");
                format!("{verb} {}", path.split('?').next().unwrap_or(path))
            }
        };
        let service = name(syms, "service", service.as_bytes())?;
        let cred = match get(&v, "user.extra") {
            Some(extra) => extra
                .get("authentication.kubernetes.io/credential-id")
                .and_then(|c| c.get(0))
                .and_then(Value::as_str),
            None => None,
        };
        let credential = match present(cred) {
            Some(c) => Some(name(syms, "credential-id", c.as_bytes())?),
            None => None,
        };
        let code = json::unsigned(&v, &["responseStatus.code"])?;
        let decision = json::text(&v, &["annotations.authorization.k8s.io/decision"])?;
        let failed = code.is_some_and(|c| c >= 400)
            || decision.as_deref() == Some("forbid")
            || stage.as_deref() == Some("Panic");
        Ok(Some(Event::Auth(AuthEvent {
            time,
            identity,
            src,
            dst,
            service: Some(service),
            protocol: if cred.is_some_and(|c| c.starts_with("X509")) {
                AuthProtocol::Mtls
            } else {
                AuthProtocol::Oauth
            },
            logon: LogonType::Network,
            orientation: Orientation::LogOn,
            outcome: if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            credential,
        })))
    }
}
