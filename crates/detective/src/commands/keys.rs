//! `detective keys create|list|revoke`: API keys on the database a server uses.

use std::process::ExitCode;

use anyhow::Result;
use detective_core::Role;
use detective_ops::keys as api_keys;

use crate::cli::{KeysCommand, RoleArg};
use crate::commands::storage::{open_db, runtime};
use crate::config::Config;

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Admin => Role::Admin,
        RoleArg::Operator => Role::Operator,
        RoleArg::Device => Role::Device,
        RoleArg::Viewer => Role::Viewer,
    }
}

pub fn run(cmd: KeysCommand, config: &Config) -> Result<ExitCode> {
    runtime()?.block_on(async {
        match cmd {
            KeysCommand::Create { role: r, name, storage } => {
                let db = open_db(&storage, config).await?;
                let (key, secret) = api_keys::create(&db, &name, role(r)).await?;
                eprintln!(
                    "created {} key {:?} (id {}); it is shown only now, store it safely:",
                    key.role, key.name, key.id
                );
                println!("{secret}");
            }
            KeysCommand::List { storage } => {
                let db = open_db(&storage, config).await?;
                println!(
                    "{:<36}  {:<8}  {:<10}  {:<24}  {:<7}  name",
                    "id", "role", "prefix", "created", "state"
                );
                for k in api_keys::list(&db).await? {
                    println!(
                        "{:<36}  {:<8}  {:<10}  {:<24}  {:<7}  {}",
                        k.id,
                        k.role.as_str(),
                        k.prefix,
                        k.created_at,
                        if k.revoked { "revoked" } else { "active" },
                        k.name
                    );
                }
            }
            KeysCommand::Revoke { id, storage } => {
                let db = open_db(&storage, config).await?;
                api_keys::revoke(&db, &id).await?;
                println!("revoked {id}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
