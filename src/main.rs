use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = hubbridge::cli::Cli::parse();
    match hubbridge::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hubbridge: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
