//! A throughput and latency benchmark of Portcullis over real HTTP on loopback.
//!
//! ```sh
//! cargo run --release --example bench [-- --seconds 5 --concurrency 4 --database-url URL]
//! ```
//!
//! It starts the real server in this process (its own Tokio runtime, as `portcullis
//! serve` has) on 127.0.0.1 over a fresh SQLite file in a temporary folder (or
//! `--database-url`), registers a user and two clients through `portcullis::commands`,
//! and drives six scenarios, each for `--seconds` with `--concurrency` closed-loop
//! workers (one HTTP connection each) on a second runtime:
//!
//! 1. code exchange: `POST /token`, `authorization_code` with PKCE S256, over codes
//!    minted beforehand with `Grants::issue_code`, outside the timed section;
//! 2. refresh: `POST /token`, `refresh_token`, each worker chaining its rotated tokens;
//! 3. client_credentials: `POST /token`;
//! 4. userinfo: `GET /userinfo` with a bearer access token;
//! 5. introspection: `POST /introspect` of a live access token;
//! 6. password login: `POST /login` with the form's CSRF token and a cookie jar per
//!    worker, which is argon2id-bound.
//!
//! Before them it measures the floors on one core: RS256 signatures and verifications
//! through the key ring, and argon2id hashes through the server's password hasher (and
//! signatures on every core at once, to see how far the cores scale). From these it
//! prints what each scenario would reach if it were bound only by its crypto, and the
//! ratio of measured to that bound. On Linux it also splits the process's CPU time
//! between server threads and client threads, per request, from /proc.
//!
//! Any answer other than 2xx or 303 counts as an error; the run then exits non-zero.

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    pin::Pin,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::Parser;
use josekit::jwt::JwtPayload;
use portcullis::{
    AppState,
    accounts::AuthenticatedUser,
    config::Config,
    crypto::{random, sha256_b64url},
    oidc::{
        authorize::{AuthorizationRequest, RawParams, validate},
        clients::ClientRegistration,
    },
    storage::StoredClient,
};
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::{runtime::Runtime, sync::oneshot, task::JoinSet};
use uuid::Uuid;

/// Name prefix of the server runtime's threads, so CPU time can be told apart.
const SERVER_THREAD: &str = "portcullis-srv";
const CLIENT_THREAD: &str = "bench-client";
/// The sqlx SQLite driver runs each connection on a thread of its own.
const SQLITE_THREAD: &str = "sqlx-sqlite";

/// No worker sends more than this many requests, whatever the time limit.
const MAX_REQUESTS_PER_WORKER: usize = 1_000_000;
/// Floors: iterations, in `FLOOR_TRIALS` trials, each loop also stopping after
/// `FLOOR_TIME`.
const SIGNATURES: usize = 2_000;
const VERIFICATIONS: usize = 20_000;
const HASHES: usize = 20;
const FLOOR_TIME: Duration = Duration::from_secs(10);
const FLOOR_TRIALS: usize = 4;

const PASSWORD: &str = "correct horse battery staple";
const REDIRECT_URI: &str = "http://127.0.0.1/callback";
const SCOPE: &str = "openid profile email";

#[derive(Parser, Debug)]
#[command(about = "Benchmark Portcullis over HTTP on loopback")]
struct Args {
    /// Seconds each scenario runs (1 to 300).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent workers per scenario; default twice the cores.
    #[arg(long)]
    concurrency: Option<usize>,
    /// The database to use; default a fresh SQLite file in a temporary folder.
    #[arg(long)]
    database_url: Option<String>,
    /// Run only these scenarios (e.g. `--only refresh --only userinfo`).
    #[arg(long)]
    only: Vec<String>,
    /// A server setting as `section.key=TOML value`, e.g. `--set database.max_connections=4`
    /// or `--set 'sessions.ttl="1h"'`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

/// The validated run settings.
struct Opts {
    duration: Duration,
    workers: usize,
    cores: usize,
    only: Vec<String>,
}

impl Opts {
    fn from_args(args: &Args) -> Result<Self> {
        ensure!(
            (1..=300).contains(&args.seconds),
            "--seconds must be 1 to 300"
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = args.concurrency.unwrap_or(2 * cores);
        ensure!(
            (1..=1024).contains(&workers),
            "--concurrency must be 1 to 1024"
        );
        if let Some(unknown) = args
            .only
            .iter()
            .find(|o| !SCENARIOS.iter().any(|s| s.name == o.as_str()))
        {
            let known: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
            bail!("unknown scenario `{unknown}` (known: {})", known.join(", "));
        }
        Ok(Self {
            duration: Duration::from_secs(args.seconds),
            workers,
            cores,
            only: args.only.clone(),
        })
    }

    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == scenario)
    }
}

fn main() -> ExitCode {
    match bench(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &Args) -> Result<()> {
    let opts = Opts::from_args(args)?;
    let server_rt = runtime(SERVER_THREAD, opts.cores)?;
    let client_rt = runtime(CLIENT_THREAD, opts.cores)?;
    let server = client_rt.block_on(Server::start(
        &server_rt,
        args.database_url.as_deref(),
        &args.settings,
    ))?;
    let outcome = client_rt.block_on(run(&opts, &server));
    client_rt.block_on(server.stop());
    drop(client_rt);
    server_rt.shutdown_timeout(Duration::from_secs(5));
    let failed = outcome?;
    ensure!(failed == 0, "{failed} requests failed");
    Ok(())
}

fn runtime(name: &str, threads: usize) -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .context("cannot start a Tokio runtime")
}

/// What every scenario reads.
struct Bench<'a> {
    opts: &'a Opts,
    server: &'a Server,
    fx: Arc<Fixture>,
    floors: Floors,
}

/// Measures the floors, then every scenario; returns how many requests failed.
async fn run(opts: &Opts, server: &Server) -> Result<u64> {
    println!(
        "portcullis bench: {} cores, {} workers, {} s per scenario, {}",
        opts.cores,
        opts.workers,
        opts.duration.as_secs(),
        server.database
    );
    let bench = Bench {
        opts,
        server,
        fx: Arc::new(server.fixture().await?),
        floors: server.floors(opts.cores).await?,
    };
    bench.floors.print();
    let mut rows = Vec::new();
    for scenario in SCENARIOS {
        if opts.wants(scenario.name) {
            let measured = (scenario.run)(&bench).await?;
            rows.push(Row::new(scenario, measured, &bench));
        }
    }
    print_table(&rows);
    Ok(rows.iter().map(|r| r.measured.tally.errors).sum())
}

// ---------------------------------------------------------------------------------------
// The server and what the scenarios need registered in it.

/// The in-process server: its state, its address, and how to stop it.
struct Server {
    state: AppState,
    rt: tokio::runtime::Handle,
    base: String,
    database: String,
    stop: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// `AppState::start` and `portcullis::serve` on 127.0.0.1:0, on `rt`.
    async fn start(rt: &Runtime, database_url: Option<&str>, settings: &[String]) -> Result<Self> {
        let (url, dir, database) = match database_url {
            Some(url) => (url.to_owned(), None, "the given database".to_owned()),
            None => {
                let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
                let url = format!("sqlite://{}/portcullis.db", dir.path().display());
                (url, Some(dir), "SQLite in a temporary file".to_owned())
            }
        };
        let handle = rt.handle().clone();
        let listener = handle
            .spawn(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .await??;
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        // Codes live 10 minutes (the most allowed), longer than any scenario.
        let ours = [
            format!("issuer={base:?}"),
            format!("bind=\"{addr}\""),
            format!("database_url={url:?}"),
            "tokens.code_ttl=\"10m\"".to_owned(),
        ];
        let config = Config::from_toml(&toml_overlay(&ours, settings)?)?;
        let state = handle.spawn(AppState::start(config)).await??;
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = handle.spawn(portcullis::serve(state.clone(), listener, async move {
            let _ = stopped.await;
        }));
        let serving = handle.spawn(async move {
            match serving.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("server stopped: {e}"),
                Err(e) => eprintln!("server task failed: {e}"),
            }
        });
        Ok(Self {
            state,
            rt: handle,
            base,
            database,
            stop,
            serving,
            _dir: dir,
        })
    }

    /// Runs `task` on the server's runtime, where its database pool lives.
    async fn on_server<T: Send + 'static>(
        &self,
        task: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.rt.spawn(task).await?
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.serving).await;
    }

    /// A user and the two clients, registered the way the CLI does it.
    async fn fixture(&self) -> Result<Fixture> {
        let config = (*self.state.config).clone();
        let base = self.base.clone();
        self.on_server(async move {
            let username = format!("bench-{}", Uuid::new_v4().simple());
            let email = format!("{username}@example.com");
            let user =
                portcullis::commands::user_add(&config, &username, &email, PASSWORD.into(), &[])
                    .await?;
            let web = register(
                &config,
                ClientRegistration {
                    name: "Bench web app".into(),
                    redirect_uris: vec![REDIRECT_URI.into()],
                    ..Default::default()
                },
            )
            .await?;
            let machine = register(
                &config,
                ClientRegistration {
                    name: "Bench machine".into(),
                    grant_types: vec!["client_credentials".into()],
                    scopes: vec!["api.read".into()],
                    ..Default::default()
                },
            )
            .await?;
            Ok(Fixture {
                base,
                username,
                user_id: user.id,
                web,
                machine,
            })
        })
        .await
    }

    /// `n` single-use codes for the web client, with their PKCE verifiers.
    async fn mint_codes(&self, fx: &Arc<Fixture>, n: usize) -> Result<Vec<PkceCode>> {
        let (state, fx) = (self.state.clone(), Arc::clone(fx));
        self.on_server(async move {
            let grants = &state.grants;
            let now = state.clock.now();
            let client = state
                .store
                .clients
                .find_by_client_id(&fx.web.id)
                .await?
                .context("the web client is registered")?;
            let who = AuthenticatedUser {
                user_id: fx.user_id,
                auth_time: now,
                amr: vec!["pwd".into()],
                sid: random::id(),
            };
            let mut codes = Vec::with_capacity(n);
            for _ in 0..n {
                let verifier = random::secret();
                let request =
                    authorization_request(&client, sha256_b64url(verifier.as_bytes()), now)?;
                let code = grants
                    .issue_code(&request, &who)
                    .await
                    .map_err(|e| anyhow!("issue_code: {e}"))?;
                codes.push(PkceCode {
                    code: code.into_exposed(),
                    verifier,
                });
            }
            Ok(codes)
        })
        .await
    }
}

/// TOML from `key=value` settings (`section.key` for a key in a section): the bench's
/// own, then the user's `--set`s, which may not move the issuer, address or database.
fn toml_overlay(ours: &[String], user: &[String]) -> Result<String> {
    let mut tables: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for (setting, theirs) in ours
        .iter()
        .map(|s| (s, false))
        .chain(user.iter().map(|s| (s, true)))
    {
        let (path, value) = setting
            .split_once('=')
            .with_context(|| format!("`{setting}` is not KEY=VALUE"))?;
        let (table, key) = path.trim().rsplit_once('.').unwrap_or(("", path.trim()));
        ensure!(
            !theirs || !matches!(key, "issuer" | "bind" | "database_url"),
            "`{key}` is the bench's to set (see --database-url)"
        );
        tables.entry(table).or_default().insert(key, value.trim());
    }
    let mut toml = String::new();
    for (table, keys) in &tables {
        if !table.is_empty() {
            toml.push_str(&format!("[{table}]\n"));
        }
        for (key, value) in keys {
            toml.push_str(&format!("{key} = {value}\n"));
        }
    }
    Ok(toml)
}

async fn register(config: &Config, registration: ClientRegistration) -> Result<Credentials> {
    let (client, secret) = portcullis::commands::client_add(config, registration).await?;
    Ok(Credentials {
        id: client.client_id,
        secret: secret.context("a confidential client has a secret")?,
    })
}

/// A request as `/authorize` validates it: the web client, the bench's scopes, a nonce
/// and an S256 challenge.
fn authorization_request(
    client: &StoredClient,
    code_challenge: String,
    now: i64,
) -> Result<AuthorizationRequest> {
    let nonce = random::id();
    let params = [
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", SCOPE),
        ("nonce", nonce.as_str()),
        ("code_challenge", code_challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let raw = RawParams::new(
        params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )?;
    validate(&raw, Some(client), now).map_err(|e| anyhow!("the bench's request: {e:?}"))
}

struct Credentials {
    id: String,
    secret: String,
}

/// What the HTTP side knows: where the server is, who may sign in, and the clients.
struct Fixture {
    base: String,
    username: String,
    user_id: Uuid,
    /// Confidential, authorization_code + refresh_token.
    web: Credentials,
    /// Confidential, client_credentials.
    machine: Credentials,
}

impl Fixture {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

struct PkceCode {
    code: String,
    verifier: String,
}

// ---------------------------------------------------------------------------------------
// Floors: the crypto alone, on one core.

struct Floors {
    /// RS256 signatures per second on one core (`KeyRing::sign`).
    sign: f64,
    /// The same with one signing thread per core at once: how far the cores scale.
    sign_all: f64,
    /// RS256 verifications per second on one core (`KeyRing::verify`).
    verify: f64,
    /// argon2id hashes (m=19 MiB, t=2) per second, one at a time (`PasswordHasher`).
    hash: f64,
    /// How many hashes the server runs at once: `security.password_hash_concurrency`.
    hash_slots: usize,
    /// The cores the bounds spread the crypto over.
    cores: usize,
}

impl Server {
    /// Each floor is one loop on one thread of the idle server's runtime: one core;
    /// signing is also measured on every core at once.
    async fn floors(&self, cores: usize) -> Result<Floors> {
        let sign = self.sign_rates(1).await?;
        let sign_all = self.sign_rates(cores).await?;
        let state = self.state.clone();
        self.on_server(async move {
            let token = state.keys.sign(&sample_payload(), "at+jwt")?;
            let verify = rate(VERIFICATIONS, || async {
                state.keys.verify(&token).await?;
                Ok(())
            })
            .await?;
            let hash = rate(HASHES, || async {
                state.hasher.hash(PASSWORD.into()).await?;
                Ok(())
            })
            .await?;
            Ok(Floors {
                sign,
                sign_all,
                verify,
                hash,
                hash_slots: state.config.security.password_hash_concurrency,
                cores,
            })
        })
        .await
    }

    /// RS256 signatures per second, summed over `threads` threads signing at once.
    async fn sign_rates(&self, threads: usize) -> Result<f64> {
        let loops: Vec<_> = (0..threads)
            .map(|_| {
                let (keys, rt) = (Arc::clone(&self.state.keys), self.rt.clone());
                let payload = sample_payload();
                self.rt.spawn_blocking(move || {
                    rt.block_on(rate(SIGNATURES, || async {
                        keys.sign(&payload, "at+jwt")?;
                        Ok(())
                    }))
                })
            })
            .collect();
        let mut total = 0.0;
        for l in loops {
            total += l.await??;
        }
        Ok(total)
    }
}

/// Awaits `op` `count` times over `FLOOR_TRIALS` trials, each also stopping after its
/// share of `FLOOR_TIME`; returns the best trial's calls per second: the one least
/// disturbed by whatever else the machine was doing.
async fn rate<F: Future<Output = Result<()>>>(
    count: usize,
    mut op: impl FnMut() -> F,
) -> Result<f64> {
    let mut best: f64 = 0.0;
    for _ in 0..FLOOR_TRIALS {
        let started = Instant::now();
        let mut done = 0;
        while done < count / FLOOR_TRIALS && started.elapsed() < FLOOR_TIME / FLOOR_TRIALS as u32 {
            op().await?;
            done += 1;
        }
        best = best.max(done as f64 / started.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// A payload shaped like an access token's.
fn sample_payload() -> JwtPayload {
    let mut p = JwtPayload::new();
    p.set_issuer("http://127.0.0.1:8080");
    p.set_subject(Uuid::new_v4().to_string());
    p.set_audience(vec!["http://127.0.0.1:8080"]);
    p.set_jwt_id(random::id());
    p.set_issued_at(&std::time::SystemTime::now());
    let _ = p.set_claim("scope", Some(SCOPE.into()));
    p
}

impl Floors {
    fn print(&self) {
        println!("\nfloors, one core:");
        let line = |what: &str, per_s: f64, note: String| {
            println!("  {what:<31} {per_s:>7.0}/s  {note}");
        };
        let each = |per_s: f64| format!("({} ms each)", ms(1000.0 / per_s));
        line("RS256 sign (KeyRing::sign)", self.sign, each(self.sign));
        line(
            &format!("  the same, {} threads at once", self.cores),
            self.sign_all,
            format!("(the cores scale x{:.2})", self.sign_all / self.sign),
        );
        line(
            "RS256 verify (KeyRing::verify)",
            self.verify,
            each(self.verify),
        );
        line("argon2id m=19MiB t=2 (hasher)", self.hash, each(self.hash));
        println!(
            "if purely RSA-bound, on {} cores the token endpoint would do {:.0} code exchanges \
             or refreshes/s\n(3 signatures each) or {:.0} client_credentials/s (1); \
             argon2-bound logins ({} hashing slots): {:.0}/s",
            self.cores,
            self.bound(cost(3, 0, 0)),
            self.bound(cost(1, 0, 0)),
            self.hash_slots,
            self.bound(cost(0, 0, 1)),
        );
    }

    /// Seconds of one core that `cost`'s crypto takes.
    fn seconds(&self, cost: Cost) -> f64 {
        f64::from(cost.signs) / self.sign
            + f64::from(cost.verifies) / self.verify
            + f64::from(cost.hashes) / self.hash
    }

    /// Requests per second if the crypto were all there is, on every core it may use
    /// (for a login, at most the hashing slots).
    fn bound(&self, cost: Cost) -> f64 {
        let lanes = if cost.hashes > 0 {
            self.cores.min(self.hash_slots)
        } else {
            self.cores
        };
        lanes as f64 / self.seconds(cost)
    }
}

/// The crypto one request costs the server.
#[derive(Clone, Copy)]
struct Cost {
    signs: u32,
    verifies: u32,
    hashes: u32,
}

// ---------------------------------------------------------------------------------------
// The driver: N workers, each looping over one request until the time is up.

/// What one step of a worker did.
enum Step {
    /// A request was answered as expected.
    Done,
    /// Nothing left to send (the pre-minted codes ran out); the worker stops.
    OutOfInput,
}

type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<Step>> + Send + 'a>>;

/// One worker's counts; merged into the scenario's.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
    ran_out: bool,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.ran_out |= other.ran_out;
    }
}

/// A scenario's result.
struct Measured {
    tally: Tally,
    elapsed: Duration,
    cpu: Option<CpuSplit>,
}

/// Runs `step` in a loop on each worker's state, all workers at once, until
/// `opts.duration` has passed (a request in flight then is finished and counted) or a
/// worker reaches `MAX_REQUESTS_PER_WORKER`. Each step is timed from start to end.
async fn drive<S, F>(opts: &Opts, workers: Vec<S>, step: F) -> Result<Measured>
where
    S: Send + 'static,
    F: for<'a> Fn(&'a mut S) -> StepFuture<'a> + Send + Sync + 'static,
{
    let step = Arc::new(step);
    let cpu_before = cpu_by_thread();
    let started = Instant::now();
    let deadline = started + opts.duration;
    let mut set = JoinSet::new();
    for mut state in workers {
        let step = Arc::clone(&step);
        set.spawn(async move {
            let mut tally = Tally::default();
            let mut sent = 0;
            while Instant::now() < deadline && sent < MAX_REQUESTS_PER_WORKER {
                sent += 1;
                let at = Instant::now();
                match step(&mut state).await {
                    Ok(Step::Done) => tally.latencies.push(at.elapsed()),
                    Ok(Step::OutOfInput) => {
                        tally.ran_out = true;
                        break;
                    }
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(joined) = set.join_next().await {
        tally.merge(joined?);
    }
    let elapsed = started.elapsed();
    let cpu = cpu_before.and_then(|before| Some(CpuSplit::between(&before, &cpu_by_thread()?)));
    tally.latencies.sort_unstable();
    Ok(Measured {
        tally,
        elapsed,
        cpu,
    })
}

/// A worker: its own HTTP client (one keep-alive connection; its own cookie jar), the
/// fixture, and what its scenario carries from one request to the next.
struct Worker<T> {
    http: reqwest::Client,
    fx: Arc<Fixture>,
    data: T,
}

/// An HTTP client for loopback: no proxy, no redirects followed, a timeout.
fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")
}

/// `opts.workers` workers, each prepared (untimed) by `prepare`.
async fn workers<T>(
    opts: &Opts,
    fx: &Arc<Fixture>,
    mut prepare: impl AsyncFnMut(&reqwest::Client) -> Result<T>,
) -> Result<Vec<Worker<T>>> {
    let mut all = Vec::with_capacity(opts.workers);
    for _ in 0..opts.workers {
        let http = http_client()?;
        let data = prepare(&http).await?;
        all.push(Worker {
            http,
            fx: Arc::clone(fx),
            data,
        });
    }
    Ok(all)
}

// ---------------------------------------------------------------------------------------
// HTTP: the requests the scenarios send.

/// The fields of a token response the bench uses.
#[derive(Deserialize)]
struct TokenSet {
    access_token: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
}

/// The response if its status is 2xx or 303; otherwise an error with the body's start.
async fn accepted(response: reqwest::Response) -> Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() || status == StatusCode::SEE_OTHER {
        return Ok(response);
    }
    let path = response.url().path().to_owned();
    let body = response.text().await.unwrap_or_default();
    let start: String = body.chars().take(300).collect();
    bail!(
        "{path}: HTTP {status}: {}",
        start.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

/// `POST /token`, `grant_type=authorization_code` with the PKCE verifier, as the web
/// client; the answer must carry all three tokens.
async fn exchange(http: &reqwest::Client, fx: &Fixture, code: &PkceCode) -> Result<TokenSet> {
    let response = http
        .post(fx.url("/token"))
        .basic_auth(&fx.web.id, Some(&fx.web.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code.code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &code.verifier),
        ])
        .send()
        .await?;
    let tokens: TokenSet = accepted(response).await?.json().await?;
    ensure!(
        tokens.id_token.is_some(),
        "no id_token in the code exchange"
    );
    ensure!(
        tokens.refresh_token.is_some(),
        "no refresh_token in the code exchange"
    );
    Ok(tokens)
}

/// `POST /token`, `grant_type=refresh_token`: returns the rotated refresh token.
async fn refresh(http: &reqwest::Client, fx: &Fixture, token: &str) -> Result<String> {
    let response = http
        .post(fx.url("/token"))
        .basic_auth(&fx.web.id, Some(&fx.web.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await?;
    let tokens: TokenSet = accepted(response).await?.json().await?;
    tokens.refresh_token.context("no rotated refresh_token")
}

/// `POST /token`, `grant_type=client_credentials`, as the machine client.
async fn client_credentials(http: &reqwest::Client, fx: &Fixture) -> Result<()> {
    let response = http
        .post(fx.url("/token"))
        .basic_auth(&fx.machine.id, Some(&fx.machine.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    let _: TokenSet = accepted(response).await?.json().await?;
    Ok(())
}

/// `GET /userinfo` with the access token as a bearer token.
async fn userinfo(http: &reqwest::Client, fx: &Fixture, access_token: &str) -> Result<()> {
    let response = http
        .get(fx.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await?;
    let claims: serde_json::Value = accepted(response).await?.json().await?;
    ensure!(
        claims.get("email").is_some(),
        "userinfo without the email claim"
    );
    Ok(())
}

/// `POST /introspect` of `token`, as the web client; it must be active.
async fn introspect(http: &reqwest::Client, fx: &Fixture, token: &str) -> Result<()> {
    let response = http
        .post(fx.url("/introspect"))
        .basic_auth(&fx.web.id, Some(&fx.web.secret))
        .form(&[("token", token)])
        .send()
        .await?;
    let answer: serde_json::Value = accepted(response).await?.json().await?;
    ensure!(
        answer["active"] == true,
        "the token introspected as inactive"
    );
    Ok(())
}

/// `GET /login`: sets the session cookie; returns the form's hidden `csrf` value.
async fn login_form(http: &reqwest::Client, fx: &Fixture) -> Result<String> {
    let page = accepted(http.get(fx.url("/login")).send().await?)
        .await?
        .text()
        .await?;
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).context("no csrf field on /login")? + marker.len();
    let len = page[start..].find('"').context("unterminated csrf value")?;
    Ok(page[start..start + len].to_owned())
}

/// `POST /login` with the real form; 200 "You are signed in" when it worked.
async fn login(http: &reqwest::Client, fx: &Fixture, csrf: &str) -> Result<()> {
    let response = http
        .post(fx.url("/login"))
        .form(&[
            ("csrf", csrf),
            ("login", &fx.username),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    accepted(response).await?.bytes().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The scenarios: each prepares its workers untimed, then hands one step to `drive`.

type ScenarioFuture<'a> = Pin<Box<dyn Future<Output = Result<Measured>> + 'a>>;

struct Scenario {
    name: &'static str,
    /// What the server's crypto costs per request.
    cost: Cost,
    run: for<'a> fn(&'a Bench<'a>) -> ScenarioFuture<'a>,
}

const fn cost(signs: u32, verifies: u32, hashes: u32) -> Cost {
    Cost {
        signs,
        verifies,
        hashes,
    }
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "code-exchange",
        // access, refresh and ID token
        cost: cost(3, 0, 0),
        run: |b| Box::pin(run_code_exchange(b)),
    },
    Scenario {
        name: "refresh",
        // the refresh token is verified; access, refresh and ID token signed
        cost: cost(3, 1, 0),
        run: |b| Box::pin(run_refresh(b)),
    },
    Scenario {
        name: "client-credentials",
        cost: cost(1, 0, 0),
        run: |b| Box::pin(run_client_credentials(b)),
    },
    Scenario {
        name: "userinfo",
        cost: cost(0, 1, 0),
        run: |b| Box::pin(run_userinfo(b)),
    },
    Scenario {
        name: "introspection",
        cost: cost(0, 1, 0),
        run: |b| Box::pin(run_introspection(b)),
    },
    Scenario {
        name: "password-login",
        cost: cost(0, 0, 1),
        run: |b| Box::pin(run_login(b)),
    },
];

/// Code exchanges over codes minted beforehand: 1.2 times what the RSA floor allows in
/// the time given, split among the workers.
async fn run_code_exchange(b: &Bench<'_>) -> Result<Measured> {
    let (opts, fx) = (b.opts, &b.fx);
    let ceiling = b.floors.bound(cost(3, 0, 0)) * opts.duration.as_secs_f64();
    let per_worker = ((ceiling * 1.2) as usize / opts.workers + 10).min(100_000);
    let mut codes = b.server.mint_codes(fx, per_worker * opts.workers).await?;
    let ws = workers(opts, fx, async |_| {
        Ok(codes.split_off(codes.len().saturating_sub(per_worker)))
    })
    .await?;
    drive(opts, ws, |w: &mut Worker<Vec<PkceCode>>| {
        Box::pin(async move {
            let Some(code) = w.data.pop() else {
                return Ok(Step::OutOfInput);
            };
            exchange(&w.http, &w.fx, &code).await?;
            Ok(Step::Done)
        })
    })
    .await
}

/// Refreshes; each worker starts from a code exchange of its own and chains the
/// rotated refresh tokens.
async fn run_refresh(b: &Bench<'_>) -> Result<Measured> {
    let fx = &b.fx;
    let mut codes = b.server.mint_codes(fx, b.opts.workers).await?;
    let ws = workers(b.opts, fx, async |http| {
        let code = codes.pop().context("one code per worker")?;
        exchange(http, fx, &code)
            .await?
            .refresh_token
            .context("no refresh_token")
    })
    .await?;
    drive(b.opts, ws, |w: &mut Worker<String>| {
        Box::pin(async move {
            w.data = refresh(&w.http, &w.fx, &w.data).await?;
            Ok(Step::Done)
        })
    })
    .await
}

/// client_credentials grants for the machine client; nothing carried between requests.
async fn run_client_credentials(b: &Bench<'_>) -> Result<Measured> {
    let ws = workers(b.opts, &b.fx, async |_| Ok(())).await?;
    drive(b.opts, ws, |w: &mut Worker<()>| {
        Box::pin(async move {
            client_credentials(&w.http, &w.fx).await?;
            Ok(Step::Done)
        })
    })
    .await
}

/// One access token with the openid scope, from a code exchange, for every worker.
async fn access_token(b: &Bench<'_>) -> Result<String> {
    let codes = b.server.mint_codes(&b.fx, 1).await?;
    let code = codes.first().context("one code")?;
    Ok(exchange(&http_client()?, &b.fx, code).await?.access_token)
}

/// `GET /userinfo`, every worker with the same live access token.
async fn run_userinfo(b: &Bench<'_>) -> Result<Measured> {
    let token = access_token(b).await?;
    let ws = workers(b.opts, &b.fx, async |_| Ok(token.clone())).await?;
    drive(b.opts, ws, |w: &mut Worker<String>| {
        Box::pin(async move {
            userinfo(&w.http, &w.fx, &w.data).await?;
            Ok(Step::Done)
        })
    })
    .await
}

/// `POST /introspect` of the same live access token, by the web client.
async fn run_introspection(b: &Bench<'_>) -> Result<Measured> {
    let token = access_token(b).await?;
    let ws = workers(b.opts, &b.fx, async |_| Ok(token.clone())).await?;
    drive(b.opts, ws, |w: &mut Worker<String>| {
        Box::pin(async move {
            introspect(&w.http, &w.fx, &w.data).await?;
            Ok(Step::Done)
        })
    })
    .await
}

/// Password logins: each worker loads the form once (its session cookie and CSRF
/// token), then signs in again and again on that session.
async fn run_login(b: &Bench<'_>) -> Result<Measured> {
    let fx = &b.fx;
    let ws = workers(b.opts, fx, async |http| login_form(http, fx).await).await?;
    drive(b.opts, ws, |w: &mut Worker<String>| {
        Box::pin(async move {
            login(&w.http, &w.fx, &w.data).await?;
            Ok(Step::Done)
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------
// CPU time per thread, from /proc (Linux only).

/// CPU time of server threads (the server runtime, its blocking pool, SQLite
/// connections) and client threads, over one scenario.
#[derive(Clone, Copy)]
struct CpuSplit {
    server: Duration,
    client: Duration,
}

/// Thread id -> (name, CPU time so far).
type ThreadTimes = HashMap<String, (String, Duration)>;

/// Every thread's user+system CPU time, from /proc/self/task/*/stat.
fn cpu_by_thread() -> Option<ThreadTimes> {
    let mut times = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue; // the thread just ended
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        // After the name: state is field 3; utime and stime are fields 14 and 15, in
        // USER_HZ ticks (100 per second on Linux).
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        let total = ticks(11)? + ticks(12)?;
        let tid = entry.file_name().to_string_lossy().into_owned();
        times.insert(tid, (name, Duration::from_millis(total * 10)));
    }
    Some(times)
}

impl CpuSplit {
    fn between(before: &ThreadTimes, after: &ThreadTimes) -> Self {
        let mut split = Self {
            server: Duration::ZERO,
            client: Duration::ZERO,
        };
        for (tid, (name, t)) in after {
            let spent = t.saturating_sub(before.get(tid).map_or(Duration::ZERO, |b| b.1));
            if name.starts_with(SERVER_THREAD) || name.starts_with(SQLITE_THREAD) {
                split.server += spent;
            } else {
                split.client += spent;
            }
        }
        split
    }
}

// ---------------------------------------------------------------------------------------
// The table.

struct Row {
    name: &'static str,
    measured: Measured,
    /// Crypto CPU per request, in seconds of one core.
    crypto: f64,
    /// Requests per second if only the crypto cost anything.
    bound: f64,
    cores: usize,
}

impl Row {
    fn new(scenario: &Scenario, measured: Measured, b: &Bench<'_>) -> Self {
        Self {
            name: scenario.name,
            crypto: b.floors.seconds(scenario.cost),
            bound: b.floors.bound(scenario.cost),
            cores: b.opts.cores,
            measured,
        }
    }

    fn ok(&self) -> usize {
        self.measured.tally.latencies.len()
    }

    fn per_second(&self) -> f64 {
        self.ok() as f64 / self.measured.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0 to 1), in milliseconds.
    fn latency(&self, q: f64) -> String {
        let l = &self.measured.tally.latencies;
        if l.is_empty() {
            return "-".into();
        }
        let i = ((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1;
        ms(l[i].as_secs_f64() * 1000.0)
    }

    /// How busy the cores were: the process's CPU time over the wall time of every core.
    fn busy(&self) -> String {
        match &self.measured.cpu {
            Some(cpu) => format!(
                "{:.0}%",
                100.0 * (cpu.server + cpu.client).as_secs_f64()
                    / (self.measured.elapsed.as_secs_f64() * self.cores as f64)
            ),
            None => "-".into(),
        }
    }

    /// CPU per answered request, in milliseconds.
    fn cpu_per_request(&self, side: impl Fn(&CpuSplit) -> Duration) -> String {
        match (&self.measured.cpu, self.ok()) {
            (Some(cpu), n) if n > 0 => ms(side(cpu).as_secs_f64() * 1000.0 / n as f64),
            _ => "-".into(),
        }
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<19} {:>7} {:>6} {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6} {:>5} | {:>7} {:>6}",
        "scenario",
        "req/s",
        "p50",
        "p99",
        "max",
        "errors",
        "crypto",
        "server",
        "client",
        "busy",
        "bound/s",
        "ratio"
    );
    for r in rows {
        println!(
            "{:<19} {:>7.0} {:>6} {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6} {:>5} | {:>7.0} {:>5.0}%",
            r.name,
            r.per_second(),
            r.latency(0.50),
            r.latency(0.99),
            r.latency(1.0),
            r.measured.tally.errors,
            ms(r.crypto * 1000.0),
            r.cpu_per_request(|c| c.server),
            r.cpu_per_request(|c| c.client),
            r.busy(),
            r.bound,
            100.0 * r.per_second() / r.bound
        );
    }
    println!(
        "\nLatencies in ms. crypto | server | client: CPU ms per request: the crypto alone (from \
         the floors),\nthe server's threads, the benchmark's client threads. busy: CPU used / \
         (wall time x cores).\nbound/s: req/s if the crypto were the only cost; ratio: \
         measured / bound."
    );
    for r in rows {
        if let Some(e) = &r.measured.tally.first_error {
            println!("{}: first error: {e}", r.name);
        }
        if r.measured.tally.ran_out {
            println!(
                "{}: the pre-minted codes ran out before the time was up",
                r.name
            );
        }
    }
}
