//! Amazon Q Developer CLI (`q chat`, a vendor download). Not runnable on the test machines:
//! its screen patterns are reconstructed from published descriptions, not recorded here.
//!
//! The screen is the line-oriented chat described in `amazon_chat` (`[agent] > ` prompt,
//! `> ` answers, `[y/n/t]:` permission questions). The profile becomes a Q agent file
//! `~/.aws/amazonq/cli-agents/cao-<profile>.json`, started with `--agent`.

use super::amazon_chat;
use super::screen;
use super::{LaunchSpec, Provider, ProviderError, ProviderId, Question, Status};

/// The Amazon Q CLI provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct QCli;

const NAME: &str = ProviderId::QCli.name();

impl Provider for QCli {
    fn id(&self) -> ProviderId {
        ProviderId::QCli
    }

    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
        amazon_chat::args(NAME, spec)
    }

    fn status(&self, screen: &str) -> Status {
        amazon_chat::legacy_status(&screen::lines(screen)).unwrap_or(Status::Processing)
    }

    fn question(&self, screen: &str) -> Option<Question> {
        amazon_chat::legacy_question(&screen::lines(screen))
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        amazon_chat::legacy_last_response(&screen::lines(screen))
            .ok_or(ProviderError::NoAnswer { provider: NAME })
    }
}
