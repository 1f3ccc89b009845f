//! `--man` and `--completions SHELL` on every binary: its man page and
//! shell completions, made from the same clap definitions as `--help`.

use std::io::Write;
use std::process::exit;

use clap::CommandFactory;
use clap_complete::Shell;

/// Said at the end of `--help`.
pub const AFTER_HELP: &str = "Alone, --man prints this man page in roff (for \
    /usr/local/share/man/man1/), and --completions SHELL the completions for bash, zsh, fish, \
    elvish or powershell.";

/// When the command line is `--man` or `--completions SHELL` and nothing
/// else, prints what it asks for and exits: 0, or 2 for a shell it does not
/// know.
pub fn print_if_asked<T: CommandFactory>(program: &str) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    match args.as_slice() {
        ["--man"] => {
            let page = clap_mangen::Man::new(T::command());
            if let Err(error) = page.render(&mut out) {
                crate::cli::fail(program, format_args!("writing the man page: {error}"));
            }
        }
        ["--completions", shell] => {
            let Ok(shell) = shell.parse::<Shell>() else {
                crate::cli::fail(
                    program,
                    format_args!(
                        "no completions for {shell:?}: bash, zsh, fish, elvish or powershell"
                    ),
                );
            };
            clap_complete::generate(shell, &mut T::command(), program, &mut out);
        }
        _ => return,
    }
    // A closed pipe is no failure.
    let _ = std::io::stdout().write_all(&out);
    exit(0);
}
