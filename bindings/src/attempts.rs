//! The SDK's attempts of one call, seen from inside its orchestrator: an interceptor on every client
//! records, per attempt, whether the request left and whether its answer came back.
//!
//! Two decisions are made here, while the SDK's retry loop runs:
//! - An attempt of a write whose request was sent and whose answer never arrived (a cut or reset
//!   connection, an attempt timeout) may have been carried out. The SDK would send it again blindly;
//!   instead the loop stops, and the caller reconciles: it looks for what the lost attempt made
//!   before sending again (see `reconcile`).
//! - An endpoint that refuses connections is not retried for long: after [`REFUSALS`] refused
//!   connections the call fails, so a wrong endpoint is reported within seconds.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

/// Refused connections after which a call stops retrying.
pub const REFUSALS: u32 = 3;

/// What the attempts of the current call did. One call runs at a time per context (the script
/// thread blocks on it), so one log serves every client of a context.
#[derive(Debug, Default, Clone)]
pub struct CallLog {
    /// The current call is a write: a lost attempt stops the retry loop.
    pub write: bool,
    pub attempts: u32,
    /// Attempts whose request was sent and whose answer never came.
    pub lost: u32,
    /// Attempts that could not connect (nothing was sent).
    pub refused: u32,
    /// Why the last of them could not connect, in words.
    pub refusal: Option<Refusal>,
    /// The loop was stopped here after a lost attempt of a write.
    pub stopped_after_loss: bool,
    /// The current attempt reached the transmit phase.
    transmitting: bool,
}

/// The log shared between a context and the interceptor on each of its clients.
#[derive(Debug, Clone, Default)]
pub struct Attempts(Arc<Mutex<CallLog>>);

impl Attempts {
    /// Starts the log of a new call.
    pub fn begin(&self, write: bool) {
        if let Ok(mut log) = self.0.lock() {
            *log = CallLog { write, ..CallLog::default() };
        }
    }

    /// What the attempts of the call just made did.
    pub fn log(&self) -> CallLog {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut CallLog) -> Result<(), BoxError>) -> Result<(), BoxError> {
        match self.0.lock() {
            Ok(mut log) => f(&mut log),
            Err(_) => Ok(()),
        }
    }
}

/// The interceptor put on every client (see `runtime`).
#[derive(Debug, Clone)]
pub struct Watch(pub Attempts);

/// Why a call's attempts stopped early; the text becomes part of the call's error.
#[derive(Debug)]
pub struct Stopped(pub &'static str);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Stopped {}

impl Intercept for Watch {
    fn name(&self) -> &'static str {
        "runbook-attempts"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.update(|log| {
            log.attempts += 1;
            log.transmitting = false;
            Ok(())
        })
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.update(|log| {
            log.transmitting = true;
            Ok(())
        })
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Err(error)) = ctx.output_or_error() else { return Ok(()) };
        let answered = ctx.response().is_some_and(|r| !r.status().is_success());
        self.0.update(|log| {
            if !log.transmitting || answered {
                return Ok(());
            }
            if let Some(why) = refusal(error) {
                log.refused += 1;
                log.refusal = Some(why);
                return if log.refused >= REFUSALS {
                    Err(Stopped("the endpoint refuses connections").into())
                } else {
                    Ok(())
                };
            }
            log.lost += 1;
            if log.write {
                log.stopped_after_loss = true;
                return Err(
                    Stopped("the answer was lost; looking for what the write did before sending it again").into()
                );
            }
            Ok(())
        })
    }
}

/// Why an attempt could not connect at all (nothing was sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Dns,
    Refused,
    Unreachable,
    /// The TLS handshake failed; what the TLS library said.
    Tls(String),
    Other,
}

impl Refusal {
    /// The error code a script sees.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Dns => "DnsLookupFailed",
            Refusal::Refused => "ConnectionRefused",
            Refusal::Tls(_) => "TlsHandshakeFailed",
            Refusal::Unreachable | Refusal::Other => "ConnectionFailed",
        }
    }

    /// The cause in words.
    pub fn words(&self) -> String {
        match self {
            Refusal::Dns => "its host name could not be looked up (DNS)".into(),
            Refusal::Refused => "the connection was refused".into(),
            Refusal::Unreachable => "the network or host is unreachable".into(),
            // A plain-HTTP server answers a TLS hello with bytes that are not a TLS record.
            Refusal::Tls(said) if said.contains("InvalidContentType") || said.contains("corrupt message") => {
                format!("the TLS handshake failed ({said}); the endpoint does not seem to speak TLS: try http://")
            }
            Refusal::Tls(said) => format!("the TLS handshake failed ({said})"),
            Refusal::Other => "the connection could not be made".into(),
        }
    }
}

/// Why an attempt failed to connect at all, when it did.
fn refusal<E: std::error::Error + 'static>(error: &OrchestratorError<E>) -> Option<Refusal> {
    let connector = error.as_connector_error()?;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(connector);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Some(Refusal::Refused),
                std::io::ErrorKind::AddrNotAvailable
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable => return Some(Refusal::Unreachable),
                _ => {}
            }
        }
        cur = e.source();
    }
    // The connector names a failed connect in its debug form (`ConnectError`), also for DNS.
    let text = format!("{connector:?}");
    if text.contains("TlsConnectError") || crate::error::causes(connector).contains("TLS handshake failed") {
        let mut innermost: &(dyn std::error::Error + 'static) = connector;
        while let Some(s) = innermost.source() {
            innermost = s;
        }
        return Some(Refusal::Tls(innermost.to_string()));
    }
    if text.contains("dns error") {
        Some(Refusal::Dns)
    } else if text.contains("ConnectError") {
        Some(Refusal::Other)
    } else {
        None
    }
}
