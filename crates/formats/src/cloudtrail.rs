//! AWS CloudTrail records, one per line or in `{"Records":[…]}` documents (see [`crate::records`]).
//!
//! Every API call is an authentication of the calling principal to an AWS service:
//!
//! - identity: for role sessions (`AssumedRole`) the **role**,
//!   `userIdentity.sessionContext.sessionIssuer.arn` (`arn:aws:iam::ACCT:role/ROLE`; derived from
//!   the `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` form when the issuer is missing), so that
//!   random session names do not make new identities; otherwise `userIdentity.arn`, else
//!   `arn:aws:iam::ACCT:root` for `Root`, else `principalId`.
//! - credential: `userIdentity.accessKeyId`.
//! - destination: the role reached for `AssumeRole*`, `GetFederationToken` (`requestParameters.roleArn`,
//!   else `eventSource`); otherwise `eventSource` (`s3.amazonaws.com`). service: `eventSource`.
//! - source: `sourceIPAddress` (mapped to a host by `--hosts`). When it is an AWS service
//!   (`*.amazonaws.com`, `AWS Internal`) the call was made by AWS on the principal's behalf: no
//!   source is recorded, so it is never a "new source".
//! - `ConsoleLogin` is an interactive logon; everything else a network logon. Protocol: `oauth`
//!   for STS temporary keys (`ASIA…`), `other` (request signing with a long-term key) otherwise.
//! - outcome: failure when `errorCode` is set or `responseElements.ConsoleLogin` is `Failure`.
//! - time: `eventTime`, else `@timestamp` (Logstash exports).
//!
//! Records whose caller is `AWSService` (AWS itself, e.g. EC2 fetching an instance role) are skipped.

use crate::json;
use crate::norm::{self, present};
use crate::{name, DecodeError, LineDecoder};
use reachwatch_model::{AuthEvent, AuthProtocol, Event, Interner, LogonType, Orientation, Outcome};
use serde_json::Value;

/// Decoder for CloudTrail records (auth stream).
#[derive(Clone, Copy, Debug, Default)]
pub struct Decoder;

/// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` → `arn:aws:iam::ACCT:role/ROLE`.
pub fn role_of_session(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(":sts::")?;
    let (acct, rest) = rest.split_once(":assumed-role/")?;
    let role = rest.split('/').next().filter(|r| !r.is_empty())?;
    Some(format!("arn:{partition}:iam::{acct}:role/{role}"))
}

fn identity(v: &Value) -> Result<Option<String>, DecodeError> {
    let ty = json::text(v, &["userIdentity.type"])?;
    let ty = ty.as_deref().unwrap_or("");
    if ty == "AWSService" {
        return Ok(None);
    }
    let issuer = json::text(v, &["userIdentity.sessionContext.sessionIssuer.arn"])?;
    let arn = json::text(v, &["userIdentity.arn"])?;
    if let Some(i) = present(issuer.as_deref()) {
        if ty == "AssumedRole" || ty.is_empty() {
            return Ok(Some(i.to_string()));
        }
    }
    if let Some(a) = present(arn.as_deref()) {
        return Ok(Some(role_of_session(a).unwrap_or_else(|| a.to_string())));
    }
    if ty == "Root" {
        if let Some(acct) = json::text(v, &["userIdentity.accountId"])? {
            return Ok(Some(format!("arn:aws:iam::{acct}:root")));
        }
    }
    let principal = json::text(v, &["userIdentity.principalId"])?;
    match present(principal.as_deref()) {
        Some(p) => Ok(Some(p.to_string())),
        None => Err(norm::missing("userIdentity.arn")),
    }
}

/// True for a `sourceIPAddress` that names an AWS service rather than a network source.
pub fn is_aws_service(source: &str) -> bool {
    source.ends_with(".amazonaws.com") || source.eq_ignore_ascii_case("AWS Internal")
}

impl LineDecoder for Decoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        if line.iter().all(|b| b.is_ascii_whitespace() || *b == b',') {
            return Ok(None);
        }
        let v = json::object(line)?;
        let time = json::time(&v, &["eventTime", "@timestamp"])?;
        let Some(id) = identity(&v)? else {
            return Ok(None);
        };
        let identity = name(syms, "identity", id.as_bytes())?;
        let source = json::text(&v, &["eventSource"])?;
        let source = present(source.as_deref()).ok_or_else(|| norm::missing("eventSource"))?;
        let service = name(syms, "eventSource", source.as_bytes())?;
        let event = json::text(&v, &["eventName"])?;
        let event = present(event.as_deref()).ok_or_else(|| norm::missing("eventName"))?;
        let dst = if event.starts_with("AssumeRole") || event == "GetFederationToken" {
            match json::text(&v, &["requestParameters.roleArn"])? {
                Some(role) if present(Some(&role)).is_some() => {
                    name(syms, "requestParameters.roleArn", role.trim().as_bytes())?
                }
                _ => service,
            }
        } else {
            service
        };
        let ip = json::text(&v, &["sourceIPAddress"])?;
        let src = match present(ip.as_deref()) {
            Some(s) if is_aws_service(s) => None,
            s => norm::host_or_ip(syms, "sourceIPAddress", None, s)?,
        };
        let key = json::text(&v, &["userIdentity.accessKeyId"])?;
        let credential = match present(key.as_deref()) {
            Some(k) => Some(name(syms, "accessKeyId", k.as_bytes())?),
            None => None,
        };
        let failed = present(json::text(&v, &["errorCode"])?.as_deref()).is_some()
            || json::text(&v, &["responseElements.ConsoleLogin"])?.as_deref() == Some("Failure");
        let console = event == "ConsoleLogin";
        Ok(Some(Event::Auth(AuthEvent {
            time,
            identity,
            src,
            dst,
            service: Some(service),
            protocol: if key.as_deref().is_some_and(|k| k.starts_with("ASIA")) {
                AuthProtocol::Oauth
            } else {
                AuthProtocol::Other
            },
            logon: if console {
                LogonType::Interactive
            } else {
                LogonType::Network
            },
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
