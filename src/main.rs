//! `onestack` binary entry point.

use clap::Parser;
use onestack::cli::{self, Cli, Command};
use onestack::daemon::{self, UpOptions};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("onestack: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = cli.state_dir();
    let text = match cli.command {
        Command::Up { profile, listen } => {
            let profile = cli::load_profile(&profile)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            return runtime.block_on(daemon::run(UpOptions {
                profile,
                state_dir: dir,
                listen,
            }));
        }
        Command::Status => cli::status(&dir)?,
        Command::Openrc { user } => cli::openrc(&dir, &user)?,
        Command::CloudsYaml => cli::clouds_yaml(&dir)?,
        Command::FernetRotate => cli::fernet_rotate(&dir)?,
        Command::Down { purge_network } => {
            let mut text = cli::stop(&dir)?;
            if purge_network {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                text += &runtime.block_on(cli::purge_network(&dir))?;
            }
            text
        }
        Command::Reset { yes } => cli::reset(&dir, yes)?,
    };
    print!("{text}");
    Ok(())
}
