//! `trailmark auth`: make credentials for `[auth]` in trailmark.toml.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use trailmark_auth::{generate_access_key, generate_token, hash_token};

/// `trailmark auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Make a bearer token: print it once, and the `[[auth.tokens]]` entry for
    /// trailmark.toml, which holds only its hash.
    #[command(
        after_help = "Examples:\n  trailmark auth new-token --name books-app --scope put --source 'com.example.books*'\n  trailmark auth new-token --name auditor --scope query\n  trailmark auth new-token --name ops --scope admin --scope query >> secrets.txt"
    )]
    NewToken {
        /// Who holds it and what it may do.
        #[command(flatten)]
        holder: Holder,
    },
    /// Print the `sha256:` hash of a token read from stdin (for tokens made elsewhere).
    #[command(
        after_help = "Example (the token never appears on a command line):\n  vault read -field=token secret/trailmark | trailmark auth hash-token"
    )]
    HashToken,
    /// Make an access key pair for AWS Signature Version 4 (the AWS CLI and SDKs).
    #[command(
        after_help = "Example:\n  trailmark auth new-access-key --name billing-service --scope put --source com.example.billing"
    )]
    NewAccessKey {
        /// Who holds it and what it may do.
        #[command(flatten)]
        holder: Holder,
    },
}

/// A credential's name and grants, the same for tokens and access keys.
#[derive(Debug, Args)]
pub struct Holder {
    /// A name for the credential, recorded with each refusal and admin action.
    #[arg(long)]
    name: String,
    /// What it may do (repeat): put, query, admin, metrics (read /metrics and /readyz only), view (the browser viewer only).
    #[arg(long = "scope", required = true, value_parser = ["put", "query", "admin", "metrics", "view"])]
    scopes: Vec<String>,
    /// Event sources it may put, `*` matching any run of characters (repeat; default any).
    #[arg(long = "source")]
    sources: Vec<String>,
}

/// Run an `auth` subcommand.
pub fn run(cmd: AuthCommand) -> Result<ExitCode> {
    match cmd {
        AuthCommand::NewToken { holder } => {
            let token = generate_token();
            println!(
                "token (shown once; give it to the client): {}",
                token.expose()
            );
            println!();
            println!("# add to trailmark.toml:");
            println!("[[auth.tokens]]");
            println!("name = {}", toml_string(&holder.name));
            println!("hash = \"{}\"", hash_token(token.expose()));
            print_scopes(&holder.scopes, &holder.sources);
        }
        AuthCommand::HashToken => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the token from stdin")?;
            let token = text.trim();
            if token.is_empty() {
                bail!("no token on stdin; e.g. `printf %s \"$TOKEN\" | trailmark auth hash-token`");
            }
            println!("{}", hash_token(token));
        }
        AuthCommand::NewAccessKey { holder } => {
            let (id, secret) = generate_access_key();
            println!("access key id:     {id}");
            println!("secret access key: {} (shown once)", secret.expose());
            println!();
            println!("# store the secret in a file only the server can read (chmod 600), then");
            println!("# add to trailmark.toml:");
            println!("[[auth.access-keys]]");
            println!("id = \"{id}\"");
            println!("name = {}", toml_string(&holder.name));
            println!("secret-file = \"/etc/trailmark/{id}.secret\"");
            print_scopes(&holder.scopes, &holder.sources);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_scopes(scopes: &[String], sources: &[String]) {
    let list = |items: &[String]| {
        items
            .iter()
            .map(|s| toml_string(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("scopes = [{}]", list(scopes));
    if !sources.is_empty() {
        println!("sources = [{}]", list(sources));
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
