//! `onestack` binary entry point.

use clap::Parser;
use onestack::cli::{self, Cli, Command};
use onestack::daemon::{self, UpOptions};
use onestack::host;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        Command::Up { profile, listen } => return up(dir, profile.as_deref(), listen),
        Command::BuildImage { profile } => build_image(&dir, profile.as_deref())?,
        Command::Status => return status(&dir),
        Command::Openrc { user } => {
            cli::private_stdout();
            cli::openrc(&dir, &user)?
        }
        Command::CloudsYaml => {
            cli::private_stdout();
            cli::clouds_yaml(&dir)?
        }
        Command::FernetRotate => cli::fernet_rotate(&dir)?,
        Command::Down { purge_network } => down(&dir, purge_network)?,
        Command::Reset { yes } => cli::reset(&dir, yes)?,
        Command::Install {
            profile,
            dry_run,
            netns,
            etc_dir,
            unit_dir,
            no_packages,
            no_image,
            horizon,
        } => {
            onestack::host::install(&host::InstallOptions {
                state_dir: dir,
                profile,
                dry_run,
                netns,
                unit_dir: unit_dir.unwrap_or_else(|| host::systemd::default_unit_dir(&etc_dir)),
                etc_dir,
                no_packages,
                no_image,
                binary: std::env::current_exe()?,
                horizon,
            })?
            .text
        }
        Command::Horizon {
            venv,
            bind,
            keystone_url,
            unit_dir,
            etc_dir,
            no_unit,
        } => cli::horizon(&dir, venv, bind, keystone_url, unit_dir, &etc_dir, no_unit)?,
        Command::Uninstall {
            purge,
            etc_dir,
            unit_dir,
        } => uninstall(dir, purge, etc_dir, unit_dir)?,
        Command::HostRestore => host::restore(&dir)?,
        Command::Lab { command } => lab(dir, command)?,
    };
    print!("{text}");
    Ok(())
}

/// `onestack up`: the cloud in this process, on a multi-threaded runtime.
fn up(
    dir: std::path::PathBuf,
    profile: Option<&str>,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let profile = cli::up_profile(&dir, profile)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(daemon::run(UpOptions {
        profile,
        state_dir: dir,
        listen,
    }))
}

/// A runtime for the commands that make a few async calls.
fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// `onestack build-image`.
fn build_image(dir: &std::path::Path, profile: Option<&str>) -> anyhow::Result<String> {
    let profile = cli::chosen_profile(dir, profile)?;
    let done = host::test_image::ensure(&profile.image)?;
    Ok(if done.is_empty() {
        "The test image is in place; nothing to do.\n".to_owned()
    } else {
        done.iter().map(|c| format!("{c}\n")).collect()
    })
}

/// `onestack status`: exits with the status code when the cloud is not up.
fn status(dir: &std::path::Path) -> anyhow::Result<()> {
    let (text, code) = cli::status(dir)?;
    print!("{text}");
    use std::io::Write as _;
    std::io::stdout().flush()?;
    if code != cli::STATUS_UP {
        std::process::exit(code.into());
    }
    Ok(())
}

/// `onestack down`, and with `--purge-network` the host networking too.
fn down(dir: &std::path::Path, purge_network: bool) -> anyhow::Result<String> {
    let mut text = cli::stop(dir)?;
    if purge_network {
        text += &current_thread()?.block_on(cli::purge_network(dir))?;
    }
    Ok(text)
}

/// `onestack uninstall`.
fn uninstall(
    dir: std::path::PathBuf,
    purge: bool,
    etc_dir: std::path::PathBuf,
    unit_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<String> {
    current_thread()?.block_on(host::uninstall(&host::UninstallOptions {
        state_dir: dir,
        unit_dir: unit_dir.unwrap_or_else(|| host::systemd::default_unit_dir(&etc_dir)),
        etc_dir,
        purge,
    }))
}

/// `onestack lab ...`.
fn lab(dir: std::path::PathBuf, command: cli::LabCommand) -> anyhow::Result<String> {
    match command {
        cli::LabCommand::Create {
            students,
            prefix,
            profile,
            out_dir,
        } => onestack::lab::create(&onestack::lab::LabOptions {
            out_dir: out_dir.unwrap_or_else(|| dir.join("lab")),
            state_dir: dir,
            students,
            prefix,
            profile: cli::load_profile(&profile)?,
        }),
    }
}
