//! The `leadflow` binary; see the library for the commands.

fn main() -> std::process::ExitCode {
    leadflow::main()
}
