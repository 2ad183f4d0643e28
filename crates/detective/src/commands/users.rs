//! `detective users create|list|passwd|disable|enable`: user accounts on the
//! database a server uses. Passwords come from standard input (never a flag,
//! which other users of the machine could read in the process list).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detective_core::Role;
use detective_ops::accounts;

use crate::cli::{UserRoleArg, UsersCommand};
use crate::commands::storage::{open_db, runtime};
use crate::config::Config;

fn role(r: UserRoleArg) -> Role {
    match r {
        UserRoleArg::Admin => Role::Admin,
        UserRoleArg::Operator => Role::Operator,
        UserRoleArg::Viewer => Role::Viewer,
    }
}

/// The first line of standard input, without its line ending; asked for when
/// standard input is a terminal (it is echoed: prefer a file or a pipe).
fn read_password(prompt: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt} (shown as typed; a pipe or file keeps it off the screen): ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("no password on standard input: give it as the first line, e.g. `< password.txt`");
    }
    accounts::check_password(&password)?;
    Ok(password)
}

pub fn run(cmd: UsersCommand, config: &Config) -> Result<ExitCode> {
    runtime()?.block_on(async {
        match cmd {
            UsersCommand::Create { name, role: r, storage } => {
                let password = read_password(&format!("password for {name}"))?;
                let db = open_db(&storage, config).await?;
                let u = accounts::create(&db, &name, role(r), &password).await?;
                println!("created {} account {} (id {})", u.role, u.username, u.id);
            }
            UsersCommand::List { storage } => {
                let db = open_db(&storage, config).await?;
                println!("{:<36}  {:<8}  {:<24}  {:<8}  name", "id", "role", "created", "state");
                for u in accounts::list(&db).await? {
                    println!(
                        "{:<36}  {:<8}  {:<24}  {:<8}  {}",
                        u.id,
                        u.role.as_str(),
                        u.created_at,
                        if u.disabled { "disabled" } else { "active" },
                        u.username
                    );
                }
            }
            UsersCommand::Passwd { user, storage } => {
                let password = read_password(&format!("new password for {user}"))?;
                let db = open_db(&storage, config).await?;
                let u = accounts::set_password(&db, &user, &password).await?;
                println!("password of {} set; its sessions have ended", u.username);
            }
            UsersCommand::Disable { user, storage } => {
                let db = open_db(&storage, config).await?;
                let u = accounts::set_disabled(&db, &user, true).await?;
                println!("disabled {}", u.username);
            }
            UsersCommand::Enable { user, storage } => {
                let db = open_db(&storage, config).await?;
                let u = accounts::set_disabled(&db, &user, false).await?;
                println!("enabled {}", u.username);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
