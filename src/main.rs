//! The `portcullis` binary: parse the command line, load settings, start logging, and
//! call into the library.

use std::{io::BufRead, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use portcullis::{
    AppState,
    commands::{self, CommandError},
    config::{Config, DatabaseUrl, LogFormat},
    oidc::clients::ClientRegistration,
};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "portcullis", version, about = "An OpenID Connect provider")]
struct Cli {
    /// A TOML file of settings, laid over config/default.toml (the environment wins over both).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (applies migrations first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage people.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage client apps.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from the first line of standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Read the password from standard input (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// A role to put in the user's tokens; repeat for several.
        #[arg(long = "role", value_name = "R")]
        roles: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client app; prints its client_id and its secret, shown only this once.
    Add(ClientAddArgs),
    /// List registered clients.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ClientAddArgs {
    #[arg(long)]
    name: String,
    /// An exact redirect URI; repeat for several.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// An exact post-logout redirect URI; repeat for several.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (a single-page or native app): no secret, PKCE required.
    #[arg(long)]
    public: bool,
    /// authorization_code, refresh_token or client_credentials; repeat for several.
    /// Default: authorization_code and refresh_token.
    #[arg(long = "grant-type", value_name = "G")]
    grant_types: Vec<String>,
    /// A scope the client may request; repeat for several. Default: openid profile email.
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// An app of ours: people are not asked for consent.
    #[arg(long)]
    first_party: bool,
    /// Print {"client_id": ..., "client_secret": ...} as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key; older keys stay published until their tokens expire.
    Rotate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portcullis: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("portcullis: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("portcullis: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log.format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(command: Command, config: Config) -> Result<(), String> {
    let fail = |e: CommandError| e.to_string();
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            commands::open_store(&config).await.map_err(fail)?;
            println!("migrations applied");
            Ok(())
        }
        Command::User(UserCommand::Add {
            username,
            email,
            password_stdin: _,
            roles,
        }) => {
            let password = read_password()?;
            let user = commands::user_add(&config, &username, &email, password, &roles)
                .await
                .map_err(fail)?;
            println!("added user {} ({})", user.username, user.id);
            Ok(())
        }
        Command::Client(ClientCommand::Add(args)) => client_add(&config, args).await,
        Command::Client(ClientCommand::List { json }) => {
            let clients = commands::client_list(&config).await.map_err(fail)?;
            if json {
                let list: Vec<_> = clients
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "client_id": c.client_id, "name": c.name, "public": c.public,
                            "redirect_uris": c.redirect_uris, "grant_types": c.grant_types,
                            "post_logout_redirect_uris": c.post_logout_redirect_uris,
                            "scopes": c.allowed_scopes, "first_party": c.first_party,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if clients.is_empty() {
                println!("no clients yet: add one with `portcullis client add`");
            } else {
                for c in clients {
                    let kind = if c.public { "public" } else { "confidential" };
                    println!(
                        "{}  {}  ({kind}; {})  {}",
                        c.client_id,
                        c.name,
                        c.grant_types.join(", "),
                        c.redirect_uris.join(" ")
                    );
                }
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let kid = commands::keys_rotate(&config).await.map_err(fail)?;
            println!(
                "new signing key {kid}; running servers use it within {}",
                humantime::format_duration(config.keys.reload_interval)
            );
            Ok(())
        }
    }
}

/// The first line of standard input, without its line ending.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err("the password is empty (give it on standard input)".into());
    }
    Ok(password)
}

async fn client_add(config: &Config, args: ClientAddArgs) -> Result<(), String> {
    let registration = ClientRegistration {
        name: args.name,
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        public: args.public,
        grant_types: args.grant_types,
        scopes: args.scopes,
        first_party: args.first_party,
    };
    let (client, secret) = commands::client_add(config, registration)
        .await
        .map_err(|e| e.to_string())?;
    if args.json {
        println!(
            "{{\"client_id\": {}, \"client_secret\": {}}}",
            serde_json::Value::from(client.client_id),
            secret.map_or(serde_json::Value::Null, serde_json::Value::from)
        );
    } else {
        println!("client_id:     {}", client.client_id);
        match secret {
            Some(s) => {
                println!("client_secret: {s}");
                println!("The secret is shown only this once: store it now.");
            }
            None => println!("public client: no secret; it must use PKCE (S256)"),
        }
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let state = AppState::start(config).await.map_err(|e| e.to_string())?;
    let config = state.config.clone();
    let database = match &config.database_url {
        DatabaseUrl::Sqlite(url) => url.expose().to_owned(),
        DatabaseUrl::Postgres(_) => "PostgreSQL".to_owned(),
    };
    println!(
        "Portcullis is serving {} (listening on {}, database {database})",
        config.issuer,
        listener
            .local_addr()
            .map_or_else(|_| config.bind.to_string(), |a| a.to_string())
    );
    println!(
        "Discovery: {}/.well-known/openid-configuration",
        config.issuer
    );
    let users = state.store.users.list().await.map(|u| u.len()).unwrap_or(0);
    let clients = state
        .store
        .clients
        .list()
        .await
        .map(|c| c.len())
        .unwrap_or(0);
    if users == 0 {
        println!("No users yet. Add the first admin (the password is read from standard input):");
        println!(
            "  echo 'a long password' | portcullis user add --username admin --email admin@example.com --role admin --password-stdin"
        );
    }
    if clients == 0 {
        println!("No client apps yet. Register one:");
        println!(
            "  portcullis client add --name 'My app' --redirect-uri http://localhost:3000/callback"
        );
    }
    portcullis::serve(state, listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    println!("Portcullis stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
