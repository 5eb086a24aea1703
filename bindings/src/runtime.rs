//! The async bridge: one tokio runtime per run, SDK clients created once on it, and every call
//! driven with `block_on` from the engine's plain thread, racing an interrupt.

use crate::error::CallError;
use aws_config::BehaviorVersion;
use aws_types::region::Region;
use aws_types::SdkConfig;
use rhai::Dynamic;
use std::cell::{Cell, OnceCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The stack size of the thread that runs scripts. Generated operation futures are large in debug
/// builds (an EC2 call's is hundreds of kilobytes), and nested script calls add to that; the memory is
/// reserved, and only what is used is touched.
pub const SCRIPT_STACK: usize = 256 * 1024 * 1024;

pub use crate::credentials::{check_profile, check_profile_exists};
pub use runbook_ops::request::{note_request_id, peek_request_id, take_request_id, CallFuture};

/// How to reach AWS, from the command line; `None` leaves the SDK's own chain in charge.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Attempts per call, retries included (default: AWS_MAX_ATTEMPTS, the profile, then
    /// [`DEFAULT_MAX_ATTEMPTS`]).
    pub max_attempts: Option<u32>,
    /// `standard` or `adaptive` (default: AWS_RETRY_MODE, the profile, then standard).
    pub retry_mode: Option<String>,
    /// Seconds one attempt waits for its answer before it counts as lost (default
    /// [`DEFAULT_ATTEMPT_TIMEOUT`]).
    pub call_timeout: Option<f64>,
    /// A role to assume with the loaded credentials before anything is sent: (role ARN, session
    /// name, external id). The run's home place is then that role's account.
    pub assume_role: Option<(String, String, Option<String>)>,
    /// Seconds after a create during which its not-found answers are retried (default 120).
    pub propagation_timeout: Option<f64>,
}

impl AwsOptions {
    /// These options with a region and an endpoint that reach nothing: a context that registers
    /// the bindings (`runbook check`) or stands in for AWS (`runbook test`) without sending.
    pub fn nowhere(mut self) -> AwsOptions {
        self.region = Some("us-east-1".into());
        self.endpoint_url = Some("http://127.0.0.1:9".into());
        self
    }
}

/// Attempts per call unless `--max-attempts`, AWS_MAX_ATTEMPTS or the profile says otherwise. The aws CLI makes 3,
/// which at one failed request in five loses one call in 125: a tutorial-sized run of ~150 calls
/// would lose one. Ten make that one in ten million, while backoff (1 s doubling, at most 20 s)
/// keeps a throttled account from being hammered; an endpoint that refuses connections still fails
/// after [`crate::attempts::REFUSALS`] tries.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// Seconds one attempt waits for its answer unless `--call-timeout` says otherwise (the aws CLI's
/// read timeout). A hung connection then counts as a lost attempt and is retried or reconciled.
pub const DEFAULT_ATTEMPT_TIMEOUT: f64 = 60.0;

/// How long after a create its not-found answers are retried unless `--propagation-timeout` says
/// otherwise: Terraform's AWS provider waits as long.
pub const DEFAULT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The account id in an ARN (`arn:aws:iam::<account>:role/...`).
pub fn arn_account(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_string)
}

/// Set by a signal handler; every wait and call in flight stops when it fires.
#[derive(Debug, Default)]
pub struct Interrupt {
    /// 0 while running; otherwise the signal number that arrived.
    signal: AtomicI32,
    notify: Notify,
}

impl Interrupt {
    pub fn trigger(&self, signal: i32) {
        self.signal.store(signal, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    pub fn clear(&self) {
        self.signal.store(0, Ordering::SeqCst);
    }

    async fn fired(&self) {
        loop {
            let notified = self.notify.notified();
            if self.signal().is_some() {
                return;
            }
            notified.await;
        }
    }
}

/// Counters a run reports at its end.
#[derive(Debug, Default)]
pub struct Stats {
    pub calls: Cell<u64>,
}

/// One accessor per service: the place's client, made on first use with the attempts interceptor.
macro_rules! clients {
    ($($name:ident: $sdk:ident),+ $(,)?) => {
        $(
            pub fn $name(&self) -> &$sdk::Client {
                self.$name.get_or_init(|| {
                    let mut conf = $sdk::config::Builder::from(&self.config).interceptor(self.watch.clone());
                    if self.unknown_region() {
                        conf = conf.retry_classifier(UnknownRegion);
                    }
                    $sdk::Client::from_conf(conf.build())
                })
            }
        )+
    };
}

/// With a region the SDK does not know, sent to an endpoint of one's own, a server error is most
/// likely that endpoint not knowing the region: sent again it fails again, so it is not retried.
#[derive(Debug)]
struct UnknownRegion;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for UnknownRegion {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        match ctx.response().map(|r| r.status().as_u16()) {
            Some(status) if status >= 500 => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "runbook: a region the endpoint may not know"
    }

    fn priority(&self) -> aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority;
        RetryClassifierPriority::run_before(RetryClassifierPriority::http_status_code_classifier())
    }
}

/// Where calls go: a configuration (region, credentials, endpoint) and the clients made from it,
/// each watched by the context's attempts interceptor. A run starts in its home place;
/// `with_region` and `with_target` send a block's calls to another.
pub struct Place {
    config: SdkConfig,
    watch: crate::attempts::Watch,
    ecs: OnceCell<aws_sdk_ecs::Client>,
    elbv2: OnceCell<aws_sdk_elasticloadbalancingv2::Client>,
    ec2: OnceCell<aws_sdk_ec2::Client>,
    iam: OnceCell<aws_sdk_iam::Client>,
    autoscaling: OnceCell<aws_sdk_applicationautoscaling::Client>,
    acm: OnceCell<aws_sdk_acm::Client>,
    route53: OnceCell<aws_sdk_route53::Client>,
    /// The account the credentials belong to, asked of STS once (or known from an assumed role).
    account: OnceCell<String>,
    /// The role assumed to get here, if any.
    pub role: Option<String>,
}

impl Place {
    fn new(config: SdkConfig, watch: crate::attempts::Watch, role: Option<String>) -> Place {
        Place {
            config,
            watch,
            ecs: OnceCell::new(),
            elbv2: OnceCell::new(),
            ec2: OnceCell::new(),
            iam: OnceCell::new(),
            autoscaling: OnceCell::new(),
            acm: OnceCell::new(),
            route53: OnceCell::new(),
            account: OnceCell::new(),
            role,
        }
    }

    /// The endpoint this place's calls go to, when one is set (`--endpoint-url`, `AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> Option<&str> {
        self.config.endpoint_url()
    }

    pub fn region(&self) -> Option<&str> {
        self.config.region().map(Region::as_ref)
    }

    /// Whether calls go to an endpoint of one's own in a region the SDK does not know.
    pub fn unknown_region(&self) -> bool {
        self.endpoint().is_some() && self.region().is_some_and(|r| !crate::regions::known(r))
    }

    /// The SDK configuration of this place (credentials, region, endpoint).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    clients! {
        ecs: aws_sdk_ecs,
        elbv2: aws_sdk_elasticloadbalancingv2,
        ec2: aws_sdk_ec2,
        iam: aws_sdk_iam,
        autoscaling: aws_sdk_applicationautoscaling,
        acm: aws_sdk_acm,
        route53: aws_sdk_route53,
    }
}

pub struct Context {
    rt: tokio::runtime::Runtime,
    /// Where the run started, and the places `with_region`/`with_target` entered, innermost last.
    home: std::rc::Rc<Place>,
    places: std::cell::RefCell<Vec<std::rc::Rc<Place>>>,
    /// Where the home credentials come from (before a role is assumed with them); its `profile()`
    /// is the profile they come from, if they come from one.
    pub credentials: crate::credentials::Source,
    pub interrupt: Arc<Interrupt>,
    /// The SDK's attempts of the call in flight, seen by an interceptor on every client.
    pub attempts: crate::attempts::Attempts,
    /// Attempts per call (the retry setting in force).
    pub max_attempts: u32,
    pub params: BTreeMap<String, String>,
    pub stats: Stats,
    /// How long after a create a call keeps retrying while AWS catches up (a role not usable yet, a
    /// resource answered "not found"): `--propagation-timeout`, default 2 minutes.
    pub propagation_timeout: Duration,
    /// What the layer above does around calls (plan, step, journal, reconcile); plain by default.
    pub hooks: std::rc::Rc<dyn crate::hooks::Hooks<Context>>,
    /// How long one attempt waits for its answer.
    pub call_timeout: Duration,
    /// AWS calls a run may make before it is stopped (a runaway loop).
    pub max_calls: u64,
    /// 1: log every call to stderr; 2: with its parameters (sensitive members masked).
    pub verbose: u8,
    /// The runbook's folder: `read_file` reads inside it (and the current folder).
    pub runbook_dir: Option<std::path::PathBuf>,
    /// Sees every call about to be sent (after validation), and answers it instead of AWS when it
    /// stands in for the operation: `runbook test`'s mocks.
    pub stand_in: Option<std::rc::Rc<StandIn>>,
    /// Where the endpoint URL comes from, as messages name it: `--endpoint-url`, `AWS_ENDPOINT_URL`
    /// or a profile's `endpoint_url`; empty without one.
    pub endpoint_origin: String,
    /// The write being made asks to be sent only when needed (the call option `converge`): the run
    /// layer answers what exists, or leaves a value that holds already, instead of sending it.
    pub converge: std::cell::Cell<bool>,
}

/// Where an endpoint URL of the configuration came from: the flag, the environment, or else the
/// profile (the SDK reads `endpoint_url` there).
fn endpoint_origin(flag: Option<&str>, config: &SdkConfig, profile: Option<&str>) -> String {
    if config.endpoint_url().is_none() {
        return String::new();
    }
    if flag.is_some() {
        return "--endpoint-url".into();
    }
    if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty()) {
        return "AWS_ENDPOINT_URL".into();
    }
    let profile = profile.map(str::to_string).or_else(|| std::env::var("AWS_PROFILE").ok());
    format!("endpoint_url of profile {}", profile.as_deref().unwrap_or("default"))
}

/// The key of a place away from home ([`Context::place_key`]): its region and role.
pub fn place_key(region: Option<&str>, role: Option<&str>) -> String {
    format!("{}|{}", region.unwrap_or(""), role.unwrap_or(""))
}

/// A stand-in for AWS: given a call (service, operation, input), its answer, or `None` to send it.
pub type StandIn = dyn Fn(crate::svc::Svc, &str, &rhai::Map) -> Option<Result<Dynamic, CallError>>;

impl Context {
    /// Loads the AWS configuration (credential chain, profile, region, endpoint) on a new runtime.
    pub fn new(opts: &AwsOptions, params: BTreeMap<String, String>) -> Result<Context, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("runbook-io")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        if let Some(url) = &opts.endpoint_url {
            check_endpoint(url)?;
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = &opts.profile {
            check_profile(p, "--profile")?;
        } else if let Ok(p) = std::env::var("AWS_PROFILE") {
            if !crate::credentials::environment_keys() {
                check_profile(&p, "AWS_PROFILE")?;
            }
        }
        if let Some(r) = &opts.region {
            check_region(r)?;
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(u) = &opts.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let chosen = retry_config(opts)?;
        if let Some((retry, _)) = &chosen {
            loader = loader.retry_config(retry.clone());
        }
        let attempt_timeout = opts.call_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        if !(attempt_timeout.is_finite() && attempt_timeout > 0.0) {
            return Err(format!("invalid --call-timeout {attempt_timeout}: expected a number of seconds above 0"));
        }
        let attempt_timeout = Duration::from_secs_f64(attempt_timeout);
        if let Some(p) = opts.propagation_timeout {
            if !(p.is_finite() && p >= 0.0) {
                return Err(format!("invalid --propagation-timeout {p}: expected a number of seconds, 0 or more"));
            }
        }
        loader = loader.timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(3100))
                .operation_attempt_timeout(attempt_timeout)
                .build(),
        );
        let mut config = rt.block_on(crate::credentials::load(loader, opts.profile.as_deref()));
        let source = crate::credentials::Source::of(opts.profile.as_deref());
        // Neither flag nor environment: the profile's retry settings if it has any, else ours. A
        // profile that sets exactly the SDK's default (standard, 3) cannot be told from none.
        let max_attempts = match chosen {
            Some((_, n)) => n,
            None => match config.retry_config() {
                Some(r) if *r != aws_config::retry::RetryConfig::standard() => r.max_attempts(),
                _ => {
                    let ours = aws_config::retry::RetryConfig::standard().with_max_attempts(DEFAULT_MAX_ATTEMPTS);
                    config = config.to_builder().retry_config(ours).build();
                    DEFAULT_MAX_ATTEMPTS
                }
            },
        };
        crate::secrets::add_from_environment();
        let Some(region) = config.region().map(|r| r.to_string()) else {
            return Err("no AWS region: pass --region, set AWS_REGION, or set region in the profile".into());
        };
        // Checked wherever it came from (flag, AWS_REGION, profile); an endpoint of its own (flag,
        // AWS_ENDPOINT_URL, a profile's endpoint_url) may know names the SDK does not, so there it
        // is a warning.
        check_region_for(&region, config.endpoint_url())?;
        if let (Ok(p), crate::credentials::Source::Environment) = (std::env::var("AWS_PROFILE"), &source) {
            static ONCE: std::sync::Once = std::sync::Once::new();
            if !p.is_empty() {
                ONCE.call_once(|| {
                    eoutln!(
                        "warning: AWS_PROFILE={p} is set, but the keys in AWS_ACCESS_KEY_ID sign the requests (as in \
                         the aws CLI); pass --profile {p} to use the profile"
                    )
                });
            }
        }
        let mut home_account = None;
        if let Some((arn, session, external_id)) = &opts.assume_role {
            let creds = rt
                .block_on(assume_role_with(&config, arn, session, external_id.as_deref()))
                .map_err(|e| format!("cannot assume the role {arn}: {e}"))?;
            config = config
                .to_builder()
                .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
                .build();
            home_account = arn_account(arn);
        }
        let endpoint_origin = endpoint_origin(opts.endpoint_url.as_deref(), &config, source.profile());
        let attempts = crate::attempts::Attempts::default();
        let home = Place::new(
            config,
            crate::attempts::Watch(attempts.clone()),
            opts.assume_role.as_ref().map(|r| r.0.clone()),
        );
        if let Some(a) = home_account {
            let _ = home.account.set(a);
        }
        Ok(Context {
            endpoint_origin,
            converge: std::cell::Cell::new(false),
            rt,
            home: std::rc::Rc::new(home),
            places: std::cell::RefCell::new(Vec::new()),
            credentials: source,
            interrupt: Arc::new(Interrupt::default()),
            attempts,
            max_attempts,
            params,
            stats: Stats::default(),
            propagation_timeout: opts
                .propagation_timeout
                .map(Duration::from_secs_f64)
                .unwrap_or(DEFAULT_PROPAGATION_TIMEOUT),
            hooks: std::rc::Rc::new(crate::hooks::Plain),
            call_timeout: attempt_timeout,
            max_calls: u64::MAX,
            verbose: 0,
            runbook_dir: None,
            stand_in: None,
        })
    }

    /// The home place's region: where the run started.
    pub fn region(&self) -> Option<&str> {
        self.home.region()
    }

    pub fn endpoint(&self) -> Option<&str> {
        self.home.config.endpoint_url()
    }

    /// Where calls go now: the innermost place entered, or home.
    pub fn place(&self) -> std::rc::Rc<Place> {
        self.places.borrow().last().cloned().unwrap_or_else(|| self.home.clone())
    }

    /// Whether calls go somewhere other than home, and where: `{ region, account, role }` as the
    /// journal keeps it.
    pub fn away(&self) -> Option<serde_json::Value> {
        let place = self.places.borrow().last().cloned()?;
        Some(serde_json::json!({ "region": place.region(), "role": place.role, "account": place.account.get() }))
    }

    /// Where calls go now, as a key: empty at home, else the place's region and role. Reads and plans
    /// in one place never answer for another.
    pub fn place_key(&self) -> String {
        match self.places.borrow().last() {
            None => String::new(),
            Some(p) => place_key(p.region(), p.role.as_deref()),
        }
    }

    /// Where calls go now, for people: `eu-west-1` or `111111111111/eu-west-1`; `None` at home.
    pub fn place_label(&self) -> Option<String> {
        let place = self.places.borrow().last().cloned()?;
        let region = place.region().unwrap_or("?").to_string();
        Some(match place.account.get() {
            Some(a) if place.role.is_some() => format!("{a}/{region}"),
            _ => region,
        })
    }

    /// Sends the calls that follow to `region` (default: the current place's), with the current
    /// credentials or, given a role ARN, with that role's, until [`Context::leave`].
    pub fn enter(&self, region: Option<&str>, role: Option<&str>) -> Result<(), CallError> {
        let current = self.place();
        let mut builder = current.config.to_builder();
        if let Some(r) = region {
            check_region(r).map_err(|m| place_error("EnterRegion", m))?;
            check_region_for(r, current.config.endpoint_url()).map_err(|m| place_error("EnterRegion", m))?;
            builder = builder.region(Region::new(r.to_string()));
        }
        let mut account = None;
        if let Some(arn) = role {
            let session = format!("runbook-{}", std::process::id());
            let config = current.config.clone();
            let arn_owned = arn.to_string();
            let creds = self.sts("AssumeRole", async move { assume_role(&config, &arn_owned, &session).await })?;
            builder =
                builder.credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds));
            account = arn_account(arn);
        }
        let place =
            Place::new(builder.build(), crate::attempts::Watch(self.attempts.clone()), role.map(str::to_string));
        if let Some(a) = account {
            let _ = place.account.set(a);
        }
        self.places.borrow_mut().push(std::rc::Rc::new(place));
        Ok(())
    }

    /// Back to the place before the last [`Context::enter`].
    pub fn leave(&self) {
        self.places.borrow_mut().pop();
    }

    /// The account of the current place's credentials (STS GetCallerIdentity, asked once).
    pub fn account(&self) -> Result<String, CallError> {
        let place = self.place();
        if let Some(a) = place.account.get() {
            return Ok(a.clone());
        }
        let config = place.config.clone();
        let account = self.sts("GetCallerIdentity", async move { caller_account(&config).await })?;
        let _ = place.account.set(account.clone());
        Ok(account)
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.rt.handle().clone()
    }

    /// One STS call of the run's own (who it is, a role to assume): counted among the run's calls,
    /// as every service call is.
    fn sts<T>(&self, operation: &str, fut: impl Future<Output = Result<T, CallError>>) -> Result<T, CallError> {
        self.stats.calls.set(self.stats.calls.get() + 1);
        let started = std::time::Instant::now();
        let result = self.block_on("sts", operation, fut);
        // As the other services' functions are named: `sts::get_caller_identity`.
        let mut what = String::from("sts::");
        for (i, c) in operation.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                what.push('_');
            }
            what.push(c.to_ascii_lowercase());
        }
        let mut event = crate::hooks::Event::since(crate::hooks::EventKind::Read, what, started);
        event.error = result.as_ref().err().map(|e| e.code().to_string());
        self.hooks.event(&event);
        result
    }

    /// Drives `fut` to completion unless an interrupt arrives first.
    pub fn block_on<T>(
        &self,
        service: &str,
        operation: &str,
        fut: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        let interrupted = || CallError::Interrupted { service: service.into(), operation: operation.into() };
        if self.interrupt.signal().is_some() {
            return Err(interrupted());
        }
        let interrupt = self.interrupt.clone();
        self.rt.block_on(async move {
            tokio::select! {
                r = fut => r,
                _ = interrupt.fired() => Err(interrupted()),
            }
        })
    }

    /// Sleeps, waking early on interrupt.
    pub fn sleep(&self, what: &str, secs: f64) -> Result<(), CallError> {
        let d = Duration::from_secs_f64(secs.max(0.0));
        self.block_on("runbook", what, async move {
            tokio::time::sleep(d).await;
            Ok(())
        })
    }
}

/// Temporary credentials of the role `arn`, assumed with `config`'s credentials; the secret parts
/// are masked in everything runbook prints from then on.
pub async fn assume_role(
    config: &SdkConfig,
    arn: &str,
    session: &str,
) -> Result<aws_credential_types::Credentials, CallError> {
    assume_role_with(config, arn, session, None).await
}

/// [`assume_role`] with the external id the role's trust policy asks for, if any.
pub async fn assume_role_with(
    config: &SdkConfig,
    arn: &str,
    session: &str,
    external_id: Option<&str>,
) -> Result<aws_credential_types::Credentials, CallError> {
    let out = aws_sdk_sts::Client::new(config)
        .assume_role()
        .role_arn(arn)
        .role_session_name(session)
        .set_external_id(external_id.map(str::to_string))
        .send()
        .await
        .map_err(|e| CallError::sdk("sts", "AssumeRole", e))?;
    let c =
        out.credentials().ok_or_else(|| place_error("AssumeRole", format!("assuming {arn} gave no credentials")))?;
    crate::secrets::add(c.secret_access_key());
    crate::secrets::add(c.session_token());
    Ok(aws_credential_types::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "runbook-assumed-role",
    ))
}

/// The ARN of the principal the current place's credentials stand for (STS answers it whatever
/// the principal's policies say).
pub fn caller_arn(ctx: &Context) -> Result<String, CallError> {
    let config = ctx.place().config.clone();
    ctx.sts("GetCallerIdentity", async move { Ok(caller_identity(&config).await?.1) })
}

/// The account `config`'s credentials belong to (STS GetCallerIdentity).
pub async fn caller_account(config: &SdkConfig) -> Result<String, CallError> {
    Ok(caller_identity(config).await?.0)
}

/// The ARN of the principal `config`'s credentials stand for.
pub async fn caller_arn_of(config: &SdkConfig) -> Result<String, CallError> {
    Ok(caller_identity(config).await?.1)
}

/// The account and ARN of the principal `config`'s credentials stand for.
async fn caller_identity(config: &SdkConfig) -> Result<(String, String), CallError> {
    let who = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| CallError::sdk("sts", "GetCallerIdentity", e))?;
    Ok((who.account().unwrap_or_default().to_string(), who.arn().unwrap_or_default().to_string()))
}

fn place_error(operation: &str, message: String) -> CallError {
    let service = "runbook".into();
    CallError::Transport {
        service,
        operation: operation.into(),
        code: "InvalidTarget".into(),
        message,
        retryable: false,
    }
}

/// The retry settings of the flags where given, else of the SDK's own environment variables, with
/// [`DEFAULT_MAX_ATTEMPTS`] unless a number is given; `None` when neither says anything.
fn retry_config(opts: &AwsOptions) -> Result<Option<(aws_config::retry::RetryConfig, u32)>, String> {
    use aws_config::retry::RetryConfig;
    let mode = opts.retry_mode.clone().or_else(|| std::env::var("AWS_RETRY_MODE").ok());
    let mut config = match mode.as_deref() {
        None | Some("standard") => RetryConfig::standard(),
        Some("adaptive") => RetryConfig::adaptive(),
        Some(other) => return Err(format!("invalid retry mode {other:?}: expected standard or adaptive")),
    };
    let attempts = match opts.max_attempts {
        Some(n) => Some(n),
        None => match std::env::var("AWS_MAX_ATTEMPTS") {
            Ok(v) => {
                Some(v.parse::<u32>().map_err(|_| format!("invalid AWS_MAX_ATTEMPTS {v:?}: expected a whole number"))?)
            }
            Err(_) => None,
        },
    };
    if mode.is_none() && attempts.is_none() {
        return Ok(None);
    }
    let n = attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if n == 0 {
        return Err("invalid max attempts 0: a call makes at least one attempt".into());
    }
    config = config.with_max_attempts(n);
    Ok(Some((config, n)))
}

fn check_endpoint(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("invalid endpoint URL {url:?}: it must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(' ') {
        return Err(format!("invalid endpoint URL {url:?}: no host"));
    }
    if let Some((_, port)) = host.rsplit_once(':') {
        if !host.ends_with(']') && port.parse::<u16>().is_err() {
            return Err(format!("invalid endpoint URL {url:?}: port {port:?} is not a number from 0 to 65535"));
        }
    }
    Ok(())
}

/// Whether another process (a fleet, for its target) warned about unknown regions already.
static REGIONS_WARNED_ELSEWHERE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Leaves the unknown-region warning to the process that warned already: a fleet, for its target.
pub fn regions_warned_elsewhere() {
    REGIONS_WARNED_ELSEWHERE.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// A region the SDK does not know is refused; with an endpoint of one's own it is sent all the
/// same, after a warning that names it (an emulator may know it), once per name.
pub fn check_region_for(region: &str, endpoint: Option<&str>) -> Result<(), String> {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    match (crate::regions::check(region), endpoint) {
        (Ok(()), _) => Ok(()),
        (Err(e), None) => Err(e),
        (Err(e), Some(url)) => {
            let first = WARNED.lock().map(|mut w| {
                !w.contains(&region.to_string()) && {
                    w.push(region.into());
                    true
                }
            });
            if first.unwrap_or(true) && !REGIONS_WARNED_ELSEWHERE.load(std::sync::atomic::Ordering::Relaxed) {
                eoutln!("warning: {e}; it is sent to {url} all the same, which may know it");
            }
            Ok(())
        }
    }
}

/// Region names are lowercase letters, digits and dashes (`us-east-1`, `eu-central-2`).
fn check_region(r: &str) -> Result<(), String> {
    let ok = !r.is_empty()
        && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && r.contains('-')
        && !r.starts_with('-')
        && !r.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid region {r:?}: expected a name like us-east-1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_no_retry_setting_anywhere_a_call_makes_the_default_attempts() {
        let opts = AwsOptions {
            region: Some("us-east-1".into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        };
        let ctx = Context::new(&opts, Default::default()).unwrap();
        assert_eq!(ctx.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(ctx.home.config.retry_config().map(|r| r.max_attempts()), Some(DEFAULT_MAX_ATTEMPTS));
        let opts = AwsOptions { max_attempts: Some(4), ..opts };
        let ctx = Context::new(&opts, Default::default()).unwrap();
        assert_eq!((ctx.max_attempts, ctx.home.config.retry_config().map(|r| r.max_attempts())), (4, Some(4)));
    }

    #[test]
    fn endpoints_and_regions_are_checked() {
        assert!(check_endpoint("http://127.0.0.1:5000").is_ok());
        assert!(check_endpoint("https://ecs.us-east-1.amazonaws.com/").is_ok());
        assert!(check_endpoint("127.0.0.1:5000").unwrap_err().contains("http://"));
        assert!(check_endpoint("http://host:99999").unwrap_err().contains("port"));
        assert!(check_region("us-east-1").is_ok());
        assert!(check_region("US EAST").is_err());
    }
}
