//! Errors of an AWS call, typed inside Rust and turned into a Rhai map once, at the script boundary.
//!
//! Scripts branch on `e.code`; the map always has `code`, `message`, `service`, `operation`,
//! `status`, `request_id` and `retryable`.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ProvideErrorKind;
use rhai::{Dynamic, Map};

use crate::convert::ConvError;

/// The code of the error that refuses a write because another run holds the place's lock.
pub const LOCK_HELD: &str = "LockHeld";

#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The input does not fit the model; nothing was sent.
    #[error("{service}::{operation}: invalid input: {}", problems.join("; "))]
    Validation { service: String, operation: String, problems: Vec<String> },
    /// AWS (or the endpoint) answered with an error.
    #[error("{service}::{operation}: {code}: {message}")]
    Aws {
        service: String,
        operation: String,
        code: String,
        message: String,
        status: Option<u16>,
        request_id: Option<String>,
        retryable: bool,
    },
    /// The request never got an answer: connection refused, timeout, no credentials, no region.
    #[error("{service}::{operation}: {message}")]
    Transport { service: String, operation: String, code: String, message: String, retryable: bool },
    /// Ctrl-C or SIGTERM arrived while the call was in flight.
    #[error("{service}::{operation}: interrupted")]
    Interrupted { service: String, operation: String },
    /// The operator answered "quit" at a `--step` prompt.
    #[error("{message}")]
    Stopped { service: String, operation: String, message: String },
    /// A waiter gave up, or saw a failure state.
    #[error("{service}::{operation}: {message}")]
    Waiter { service: String, operation: String, code: String, message: String },
}

/// An error and its sources as one sentence of their messages, `outer: inner: innermost`, without
/// the Rust debug forms; a source whose text the outer one already holds is skipped.
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

impl CallError {
    /// The same AWS error with its message made by `f` from the old one; other errors as they are.
    pub fn with_message(self, f: impl FnOnce(String) -> String) -> CallError {
        match self {
            CallError::Aws { service, operation, code, message, status, request_id, retryable } => {
                CallError::Aws { message: f(message), service, operation, code, status, request_id, retryable }
            }
            other => other,
        }
    }

    pub fn sdk<E, R>(service: &str, operation: &str, e: SdkError<E, R>) -> CallError
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus + 'static,
    {
        let (service, operation) = (service.to_string(), operation.to_string());
        let no_credentials = match &e {
            SdkError::DispatchFailure(_) => credentials_error(&e),
            _ => None,
        };
        if let Some(said) = no_credentials {
            return CallError::Transport {
                code: "NoCredentials".into(),
                message: format!(
                    "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile, or sign in \
                     (aws sso login); the last provider tried said: {said}"
                ),
                retryable: false,
                service,
                operation,
            };
        }
        match &e {
            SdkError::ServiceError(ctx) => {
                let err = ctx.err();
                // An error body the SDK's parser did not take (an emulator's JSON service answering
                // in XML, or `<Errors>` nested where its protocol has none): read its code and
                // message where they stand.
                let (code, read_message) = match ProvideErrorMetadata::code(err) {
                    Some(code) => (code.to_string(), None),
                    None => match ctx.raw().body_text().and_then(|b| code_in_body(&b)) {
                        Some(read) => read,
                        // No code anywhere: whatever answered is not AWS (an HTML page, an empty body).
                        None => return invalid_response(service, operation, ctx.raw()),
                    },
                };
                let retryable = err.retryable_error_kind().is_some() || throttling(&code);
                CallError::Aws {
                    message: ProvideErrorMetadata::message(err)
                        .map(str::to_string)
                        .or(read_message)
                        .unwrap_or_else(|| DisplayErrorContext(err).to_string()),
                    status: ctx.raw().status(),
                    request_id: err.meta().extra("aws_request_id").map(str::to_string),
                    retryable,
                    code,
                    service,
                    operation,
                }
            }
            // An error the SDK could not parse in the service's protocol, whose body still says
            // what it is (a JSON service answered in XML): that error; else not AWS's answer.
            SdkError::ResponseError(ctx) => {
                let failed = ctx.raw().status().is_some_and(|s| s >= 400);
                match ctx.raw().body_text().filter(|_| failed).and_then(|b| code_in_body(&b)) {
                    Some((code, message)) => CallError::Aws {
                        retryable: throttling(&code),
                        message: message.unwrap_or_default(),
                        status: ctx.raw().status(),
                        request_id: None,
                        code,
                        service,
                        operation,
                    },
                    None => invalid_response(service, operation, ctx.raw()),
                }
            }
            SdkError::TimeoutError(_) => CallError::Transport {
                code: "Timeout".into(),
                message: format!("timed out: {}", causes(&e)),
                retryable: true,
                service,
                operation,
            },
            SdkError::DispatchFailure(d) => CallError::Transport {
                code: if d.is_timeout() { "Timeout" } else { "ConnectionError" }.into(),
                message: format!("could not reach the endpoint: {}", causes(&e)),
                retryable: true,
                service,
                operation,
            },
            _ => CallError::Transport {
                code: "RequestNotSent".into(),
                message: causes(&e),
                retryable: false,
                service,
                operation,
            },
        }
    }

    pub fn code(&self) -> &str {
        match self {
            CallError::Validation { .. } => "ValidationError",
            CallError::Aws { code, .. } | CallError::Transport { code, .. } | CallError::Waiter { code, .. } => code,
            CallError::Interrupted { .. } => "Interrupted",
            CallError::Stopped { .. } => "StoppedByOperator",
        }
    }

    pub fn is_interrupt(&self) -> bool {
        matches!(self, CallError::Interrupted { .. })
    }

    /// Whether the request may have reached AWS and done its work without an answer arriving:
    /// an interrupt, a timeout, a dropped connection, an answer that could not be read.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            CallError::Interrupted { .. } => true,
            CallError::Transport { code, .. } => {
                matches!(code.as_str(), "Timeout" | "CallTimeout" | "ConnectionError" | "ConnectionLost" | "AnswerLost")
            }
            CallError::Aws { code, .. } => code == "InvalidResponse",
            _ => false,
        }
    }

    /// Errors that end the run instead of reaching a script's `catch`: an interrupt, the operator's
    /// "quit", and a lock another run holds (a script must not write on without it).
    pub fn ends_run(&self) -> bool {
        match self {
            CallError::Interrupted { .. } | CallError::Stopped { .. } => true,
            CallError::Transport { code, .. } => code == LOCK_HELD,
            _ => false,
        }
    }

    /// The map a script's `catch (e)` receives.
    pub fn to_map(&self) -> Map {
        let mut m = Map::new();
        let (service, operation) = match self {
            CallError::Validation { service, operation, .. }
            | CallError::Aws { service, operation, .. }
            | CallError::Transport { service, operation, .. }
            | CallError::Interrupted { service, operation }
            | CallError::Stopped { service, operation, .. }
            | CallError::Waiter { service, operation, .. } => (service, operation),
        };
        let message = match self {
            CallError::Validation { problems, .. } => problems.join("; "),
            CallError::Aws { message, .. }
            | CallError::Transport { message, .. }
            | CallError::Stopped { message, .. }
            | CallError::Waiter { message, .. } => message.clone(),
            CallError::Interrupted { .. } => "interrupted".into(),
        };
        m.insert("code".into(), self.code().into());
        m.insert("message".into(), message.into());
        m.insert("service".into(), service.as_str().into());
        m.insert("operation".into(), operation.as_str().into());
        let (status, request_id, retryable) = match self {
            CallError::Aws { status, request_id, retryable, .. } => (*status, request_id.clone(), *retryable),
            CallError::Transport { retryable, .. } => (None, None, *retryable),
            _ => (None, None, false),
        };
        m.insert("status".into(), status.map(|s| Dynamic::from_int(s.into())).unwrap_or(Dynamic::UNIT));
        m.insert("request_id".into(), request_id.map(Dynamic::from).unwrap_or(Dynamic::UNIT));
        m.insert("retryable".into(), retryable.into());
        if let CallError::Validation { problems, .. } = self {
            m.insert("problems".into(), problems.iter().map(|p| Dynamic::from(p.clone())).collect::<Vec<_>>().into());
        }
        m
    }

    /// The error a conversion failure becomes, once the operation is known.
    pub fn from_conv(service: &str, operation: &str, e: ConvError) -> CallError {
        CallError::Validation { service: service.into(), operation: operation.into(), problems: vec![e.to_string()] }
    }
}

/// The credential provider's failure behind a dispatch failure, in a few words.
fn credentials_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(c) = err.downcast_ref::<aws_credential_types::provider::error::CredentialsError>() {
            let text = DisplayErrorContext(c).to_string();
            // The first clause names the problem; the rest is the providers' internals.
            let short: String = text.split(" (").next().unwrap_or(&text).chars().take(200).collect();
            return Some(short);
        }
        cur = err.source();
    }
    None
}

/// A conversion failure inside generated code; the runtime fills in service and operation.
impl From<ConvError> for CallError {
    fn from(e: ConvError) -> CallError {
        CallError::Validation { service: String::new(), operation: String::new(), problems: vec![e.to_string()] }
    }
}

/// The codes of throttling answers, which are retried.
fn throttling(code: &str) -> bool {
    matches!(code, "Throttling" | "ThrottlingException" | "RequestLimitExceeded")
}

/// An answer that is not AWS's, as an error: `InvalidResponse`, with what came back in words.
fn invalid_response(service: String, operation: String, raw: &impl HasStatus) -> CallError {
    CallError::Aws {
        code: "InvalidResponse".into(),
        message: not_aws(raw.status(), raw.body_text().as_deref()),
        status: raw.status(),
        request_id: None,
        retryable: false,
        service,
        operation,
    }
}

/// What came back, in words, for an answer that is not AWS's: `HTTP 501 with an HTML page ("Not
/// Implemented")`.
pub fn not_aws(status: Option<u16>, body: Option<&str>) -> String {
    let body = body.unwrap_or("").trim();
    let what = if body.is_empty() {
        "an empty body".to_string()
    } else if body.to_ascii_lowercase().contains("<html") {
        let lower = body.to_ascii_lowercase();
        let title = lower
            .find("<title>")
            .and_then(|i| body[i + 7..].split('<').next())
            .map(|t| format!(" (\"{}\")", t.trim()))
            .unwrap_or_default();
        format!("an HTML page{title}")
    } else {
        let text: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
        let short: String = text.chars().take(120).collect();
        let more = if short.len() < text.len() { "…" } else { "" };
        format!("\"{short}{more}\"")
    };
    let status = status.map(|s| format!("HTTP {s}")).unwrap_or_else(|| "an answer".into());
    format!("{status} with {what}, which is not an AWS answer")
}

/// The code and message of an error body: XML `<Code>`/`<Message>` wherever they are nested, or
/// JSON `__type` (or `code`) and `message`.
fn code_in_body(body: &str) -> Option<(String, Option<String>)> {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].trim().to_string()).filter(|s| !s.is_empty())
    };
    if let Some(code) = tag("Code") {
        return Some((code, tag("Message")));
    }
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let code = v["__type"].as_str().or(v["code"].as_str())?;
    // `__type` may be qualified: `com.amazonaws.ecs#AccessDeniedException`.
    let code = code.rsplit('#').next().unwrap_or(code).split(':').next().unwrap_or(code).to_string();
    let message = v["message"].as_str().or(v["Message"].as_str()).map(str::to_string);
    Some((code, message))
}

/// The HTTP status and the start of the body of a raw response.
pub trait HasStatus {
    fn status(&self) -> Option<u16>;
    fn body_start(&self) -> Option<String>;
    /// The whole body, as text.
    fn body_text(&self) -> Option<String>;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }

    fn body_start(&self) -> Option<String> {
        let bytes = self.body().bytes()?;
        let text: String = String::from_utf8_lossy(bytes).split_whitespace().collect::<Vec<_>>().join(" ");
        let short: String = text.chars().take(160).collect();
        (!short.is_empty()).then_some(short)
    }

    fn body_text(&self) -> Option<String> {
        self.body().bytes().map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::code_in_body;

    #[test]
    fn an_error_body_the_parser_did_not_take_is_read_where_its_code_stands() {
        let nested = "<?xml version=\"1.0\"?><ErrorResponse><Errors><Error><Code>AccessDenied</Code>\
                      <Message>User: u is not authorized to perform: ecs:CreateService</Message></Error></Errors></ErrorResponse>";
        let (code, message) = code_in_body(nested).unwrap();
        assert_eq!(code, "AccessDenied");
        assert_eq!(message.as_deref(), Some("User: u is not authorized to perform: ecs:CreateService"));
        let json = r#"{"__type":"com.amazonaws.ecs#AccessDeniedException","message":"no"}"#;
        assert_eq!(code_in_body(json), Some(("AccessDeniedException".into(), Some("no".into()))));
        assert_eq!(code_in_body("<html>bad gateway</html>"), None);
    }

    #[test]
    fn an_answer_that_is_not_aws_is_said_in_words() {
        let page = "<!doctype html><html><head><title>501 Not Implemented</title></head><body>x</body></html>";
        assert_eq!(
            super::not_aws(Some(501), Some(page)),
            "HTTP 501 with an HTML page (\"501 Not Implemented\"), which is not an AWS answer"
        );
        assert_eq!(super::not_aws(Some(200), Some("")), "HTTP 200 with an empty body, which is not an AWS answer");
        assert_eq!(
            super::not_aws(Some(502), Some("bad\n gateway")),
            "HTTP 502 with \"bad gateway\", which is not an AWS answer"
        );
    }
}
