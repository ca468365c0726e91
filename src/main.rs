//! The `portcullis` binary: parse the command line, load settings, start logging, and
//! call into `portcullis::commands`, which does the work and the printing.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use portcullis::{
    commands::{self, CommandError},
    config::Config,
    oidc::clients::ClientRegistration,
};

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
    /// Copy the SQLite database to FILE (which must not exist) while the server runs.
    /// For PostgreSQL, says what to use instead.
    Backup {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Check the settings, or print their reference.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Ask the running server's /healthz (at `bind`); exit 0 when it answers 200. For a
    /// container's HEALTHCHECK.
    Health,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the settings (defaults, --config FILE, the environment) and print the
    /// effective ones as TOML, secrets redacted, with the variables ignored.
    Check,
    /// Print the settings reference (docs/settings.md) from config/default.toml.
    Reference,
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
    /// List every account: username, email, state, roles, when it was created.
    List {
        /// Print a JSON array of objects.
        #[arg(long)]
        json: bool,
    },
    /// Set someone's password (read from the first line of standard input); signs
    /// them out everywhere and revokes their apps' tokens.
    SetPassword {
        #[arg(long)]
        username: String,
        /// Read the password from standard input (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable an account: it cannot sign in, and is signed out everywhere with its
    /// apps' tokens revoked.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Lift the lock put on an account after too many failed sign-in attempts.
    Unlock {
        #[arg(long)]
        username: String,
    },
    /// Remove someone's authenticator app and recovery codes, when they lost both.
    ResetSecondFactor {
        #[arg(long)]
        username: String,
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
    /// Make an initial access token for dynamic client registration (POST
    /// /oauth/register); prints it, shown only this once.
    Token {
        /// How long it works, like 1h, 1d or 30d (at most 366 days).
        #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
        expires_in: std::time::Duration,
        /// How many clients it may register (default: any number until it expires).
        #[arg(long)]
        uses: Option<i64>,
        /// What it is for, shown in the console's list.
        #[arg(long, default_value = "")]
        label: String,
        /// Print {"id": ..., "token": ..., "expires_at": ..., "max_uses": ...} as JSON.
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
    /// Everyone who signs in to this app must pass a second factor (and set one up
    /// first if they have none).
    #[arg(long)]
    require_second_factor: bool,
    /// How the client authenticates at the token endpoint: client_secret_basic
    /// (default for confidential clients), client_secret_post, or none (public);
    /// repeat to allow several.
    #[arg(long = "token-endpoint-auth-method", value_name = "METHOD")]
    token_endpoint_auth_methods: Vec<String>,
    /// An audience this client serves as a resource server: it may introspect access
    /// tokens issued for it. Repeat for several.
    #[arg(long = "resource-audience", value_name = "AUD")]
    resource_audiences: Vec<String>,
    /// Print {"client_id": ..., "client_secret": ...} as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Schedule a rotation: a new key is published at once and signs after
    /// keys.publish_ahead; the current key then retires and stays published until its
    /// tokens expire.
    Rotate {
        /// Emergency (a compromised key): the new key signs at once and every other key is
        /// removed at once; the JWKS no longer lists them and every token they signed
        /// stops verifying.
        #[arg(long)]
        now: bool,
    },
    /// List the signing keys: kid, state (published, active, retired, removed), when
    /// each was created, activates, retires and leaves the JWKS.
    List {
        /// Print a JSON array of objects.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Neither needs settings that load: one documents them, the other reports on them.
    match cli.command {
        Command::Config(ConfigCommand::Reference) => {
            commands::config::print_reference();
            return ExitCode::SUCCESS;
        }
        Command::Config(ConfigCommand::Check) => {
            return match commands::config::check(cli.config.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    commands::print_error(e);
                    ExitCode::from(2)
                }
            };
        }
        _ => {}
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            commands::print_error(e);
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
            commands::print_error(format_args!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            commands::print_error(e);
            ExitCode::from(code)
        }
    }
}

fn init_tracing(config: &Config) {
    portcullis::observe::log::init(&config.log);
    for name in &config.ignored_environment {
        tracing::warn!(variable = %name, "ignoring an environment variable that is not a setting");
    }
}

async fn run(command: Command, config: Config) -> Result<(), CommandError> {
    match command {
        Command::Serve => commands::serve::serve(config).await,
        Command::Migrate => commands::migrate(&config).await,
        Command::User(UserCommand::Add {
            username,
            email,
            password_stdin: _,
            roles,
        }) => commands::user::add(&config, &username, &email, &roles).await,
        Command::User(UserCommand::List { json }) => commands::user::list(&config, json).await,
        Command::User(UserCommand::SetPassword {
            username,
            password_stdin: _,
        }) => commands::user::set_password(&config, &username).await,
        Command::User(UserCommand::Disable { username }) => {
            commands::user::disable(&config, &username).await
        }
        Command::User(UserCommand::Enable { username }) => {
            commands::user::enable(&config, &username).await
        }
        Command::User(UserCommand::Unlock { username }) => {
            commands::user::unlock(&config, &username).await
        }
        Command::User(UserCommand::ResetSecondFactor { username }) => {
            commands::user::reset_second_factor(&config, &username).await
        }
        Command::Client(ClientCommand::Add(args)) => {
            let json = args.json;
            commands::client::add(&config, args.into_registration(), json).await
        }
        Command::Client(ClientCommand::List { json }) => {
            commands::client::list(&config, json).await
        }
        Command::Client(ClientCommand::Token {
            expires_in,
            uses,
            label,
            json,
        }) => {
            let request = portcullis::oidc::dynamic::TokenRequest {
                expires_in,
                max_uses: uses,
                label,
            };
            commands::client::token(&config, request, json).await
        }
        Command::Keys(KeysCommand::Rotate { now }) => commands::keys::rotate(&config, now).await,
        Command::Keys(KeysCommand::List { json }) => commands::keys::list(&config, json).await,
        Command::Health => commands::health::health(&config).await,
        // Handled before the settings are loaded.
        Command::Config(_) => Ok(()),
        Command::Backup { file } => commands::backup::backup(&config, &file).await,
    }
}

impl ClientAddArgs {
    fn into_registration(self) -> ClientRegistration {
        ClientRegistration {
            name: self.name,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            public: self.public,
            grant_types: self.grant_types,
            scopes: self.scopes,
            first_party: self.first_party,
            token_endpoint_auth_methods: self.token_endpoint_auth_methods,
            resource_audiences: self.resource_audiences,
            require_second_factor: self.require_second_factor,
        }
    }
}
