//! A command line refused, with the aws CLI's exit code for it.

/// A command line the CLI's way would refuse, with the exit code the aws CLI gives it: 2 for a
/// command or option it does not know or a required one missing, 255 for a value it cannot read.
#[derive(Debug, Clone, PartialEq)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError { code: 2, message: message.into() }
    }

    pub fn value(message: impl Into<String>) -> CliError {
        CliError { code: 255, message: message.into() }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
