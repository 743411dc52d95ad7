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
        Command::Up { profile, listen } => {
            let profile = cli::up_profile(&dir, profile.as_deref())?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            return runtime.block_on(daemon::run(UpOptions {
                profile,
                state_dir: dir,
                listen,
            }));
        }
        Command::BuildImage { profile } => {
            let profile = cli::chosen_profile(&dir, profile.as_deref())?;
            let done = onestack::host::test_image::ensure(&profile.image)?;
            if done.is_empty() {
                "The test image is in place; nothing to do.\n".to_owned()
            } else {
                done.iter().map(|c| format!("{c}\n")).collect()
            }
        }
        Command::Status => {
            let (text, code) = cli::status(&dir)?;
            print!("{text}");
            use std::io::Write as _;
            std::io::stdout().flush()?;
            if code != cli::STATUS_UP {
                std::process::exit(code.into());
            }
            return Ok(());
        }
        Command::Openrc { user } => {
            cli::private_stdout();
            cli::openrc(&dir, &user)?
        }
        Command::CloudsYaml => {
            cli::private_stdout();
            cli::clouds_yaml(&dir)?
        }
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
            let report = onestack::host::install(&onestack::host::InstallOptions {
                state_dir: dir,
                profile,
                dry_run,
                netns,
                unit_dir: unit_dir
                    .unwrap_or_else(|| onestack::host::systemd::default_unit_dir(&etc_dir)),
                etc_dir,
                no_packages,
                no_image,
                binary: std::env::current_exe()?,
                horizon,
            })?;
            report.text
        }
        Command::Horizon {
            venv,
            bind,
            keystone_url,
            unit_dir,
            etc_dir,
            no_unit,
        } => onestack::cli::horizon(&dir, venv, bind, keystone_url, unit_dir, &etc_dir, no_unit)?,
        Command::Uninstall {
            purge,
            etc_dir,
            unit_dir,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(onestack::host::uninstall(
                &onestack::host::UninstallOptions {
                    state_dir: dir,
                    unit_dir: unit_dir
                        .unwrap_or_else(|| onestack::host::systemd::default_unit_dir(&etc_dir)),
                    etc_dir,
                    purge,
                },
            ))?
        }
        Command::HostRestore => onestack::host::restore(&dir)?,
        Command::Lab {
            command:
                cli::LabCommand::Create {
                    students,
                    prefix,
                    profile,
                    out_dir,
                },
        } => onestack::lab::create(&onestack::lab::LabOptions {
            out_dir: out_dir.unwrap_or_else(|| dir.join("lab")),
            state_dir: dir,
            students,
            prefix,
            profile: cli::load_profile(&profile)?,
        })?,
    };
    print!("{text}");
    Ok(())
}
