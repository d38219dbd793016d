//! `municipio`: the operator's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// municipio: runs Italian municipalities (Comuni) as tenants of a regional Kubernetes cloud.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the MunicipalityTenant CustomResourceDefinition as YAML.
    Crd,
    /// Check MunicipalityTenant manifests offline with the same rules as the cluster.
    ///
    /// Exit 0 when every tenant is valid; otherwise exit 1 and print one line per problem:
    /// `<file>: <tenant name>: <field path>: <message>`.
    Validate {
        /// Files or directories (searched for *.yaml and *.yml); `-` reads standard input.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", municipio_crds::crd::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Validate { paths } => {
            let report = municipio_operator::validate_files::validate_paths(&paths);
            for line in &report.problems {
                println!("{line}");
            }
            if report.problems.is_empty() {
                eprintln!("{} tenant(s) valid", report.tenants);
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "{} problem(s) in {} tenant(s)",
                    report.problems.len(),
                    report.tenants
                );
                ExitCode::FAILURE
            }
        }
    }
}
