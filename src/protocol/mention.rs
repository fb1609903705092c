use std::sync::LazyLock;

use regex::Regex;

/// `@([\w-]+)` with Unicode `\w`, as the reference: `@` and `.` end a name, duplicates kept.
static MENTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"@([\w-]+)").expect("valid regex"));

/// `@all` addresses every agent member of the channel (the hub expands it; `all` is a
/// reserved name, so no agent holds it).
pub const ALL: &str = "all";

/// Whether a message `agent` received mentions it: by name, or by `@all` (the agent got the
/// frame, so it is a member of the channel or named in it).
pub fn addresses(mentions: &[String], agent: &str) -> bool {
    mentions.iter().any(|m| m.eq_ignore_ascii_case(agent) || m.eq_ignore_ascii_case(ALL))
}

pub fn parse_mentions(content: &str) -> Vec<String> {
    MENTION.captures_iter(content).map(|c| c[1].to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::parse_mentions;

    #[test]
    fn unicode_and_separators() {
        assert_eq!(parse_mentions("hi @agent-1 and @héllo_2"), ["agent-1", "héllo_2"]);
        assert_eq!(parse_mentions("@head@mba"), ["head", "mba"]);
        assert_eq!(parse_mentions("@a.b @a.b"), ["a", "a"]);
        assert_eq!(parse_mentions("@エージェント"), ["エージェント"]);
        assert!(parse_mentions("mail me at x @ y").is_empty());
    }
}
