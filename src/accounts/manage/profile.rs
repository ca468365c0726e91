//! The profile claims a person edits (OIDC Core section 5.1): display name (`name`),
//! given name and family name.

use super::{Field, ManageError, Refusal};
use crate::{
    accounts::Accounts,
    audit::{Event, EventKind, Origin},
    storage::Profile,
};

/// The longest name we keep, in characters.
pub const PROFILE_MAX_CHARS: usize = 100;

/// The profile as typed, before it is checked.
#[derive(Clone, Debug, Default)]
pub struct ProfileInput<'a> {
    pub display_name: &'a str,
    pub given_name: &'a str,
    pub family_name: &'a str,
}

/// Characters that are invisible yet change what a name looks like: the bidirectional
/// embeddings, overrides and isolates (Unicode TR9), which can make a name read
/// backwards on someone else's screen.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// One name: trimmed, empty as none, at most [`PROFILE_MAX_CHARS`], no control
/// characters.
fn parse_name(raw: &str, field: Field) -> Result<Option<String>, Refusal> {
    let name = raw.trim();
    if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(Refusal::new(
            field,
            "Remove the invisible control characters from this name.",
        ));
    }
    if name.chars().count() > PROFILE_MAX_CHARS {
        return Err(Refusal::new(
            field,
            format!("Use at most {PROFILE_MAX_CHARS} characters."),
        ));
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

impl ProfileInput<'_> {
    /// The profile to store, or the first field that is wrong.
    pub fn parse(&self) -> Result<Profile, Refusal> {
        Ok(Profile {
            display_name: parse_name(self.display_name, Field::DisplayName)?,
            given_name: parse_name(self.given_name, Field::GivenName)?,
            family_name: parse_name(self.family_name, Field::FamilyName)?,
        })
    }
}

impl Accounts {
    /// Saves the person's profile; unchanged, nothing is written. Returns whether it
    /// changed.
    pub async fn update_profile(
        &self,
        user_id: uuid::Uuid,
        input: &ProfileInput<'_>,
        origin: &Origin,
    ) -> Result<bool, ManageError> {
        let profile = input.parse()?;
        let user = self.active_user(user_id).await?;
        let before = Profile {
            display_name: user.display_name.clone(),
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
        };
        if before == profile {
            return Ok(false);
        }
        let now = self.clock.now();
        let changed: Vec<&str> = [
            ("name", before.display_name != profile.display_name),
            ("given_name", before.given_name != profile.given_name),
            ("family_name", before.family_name != profile.family_name),
        ]
        .into_iter()
        .filter_map(|(claim, differs)| differs.then_some(claim))
        .collect();
        let mut tx = self.store.db.begin_write().await?;
        self.users
            .set_profile_in(&mut tx, user.id, &profile, now)
            .await?;
        let event = Event::by_user(EventKind::ProfileUpdated, user.id)
            .from(origin)
            .with("changed", changed);
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(display: &str, given: &str, family: &str) -> Result<Profile, Refusal> {
        ProfileInput {
            display_name: display,
            given_name: given,
            family_name: family,
        }
        .parse()
    }

    #[test]
    fn names_are_trimmed_and_empty_ones_are_none() {
        let p = parse("  Ada Lovelace ", "Ada", "   ").expect("valid");
        assert_eq!(p.display_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(p.given_name.as_deref(), Some("Ada"));
        assert_eq!(p.family_name, None);
    }

    #[test]
    fn a_name_of_a_hundred_characters_is_kept_and_one_more_is_refused() {
        let hundred = "é".repeat(PROFILE_MAX_CHARS);
        assert!(parse(&hundred, "", "").is_ok());
        let refusal = parse("", "", &format!("{hundred}e")).expect_err("too long");
        assert_eq!(refusal.field, Field::FamilyName);
        assert_eq!(refusal.message, "Use at most 100 characters.");
    }

    #[test]
    fn control_and_direction_characters_are_refused_by_field() {
        for bad in [
            "a\u{0}b",
            "a\u{85}b",
            "a\u{9f}b",
            "evil\u{202E}txt",
            "a\u{2066}b",
        ] {
            let refusal = parse("", bad, "").expect_err(bad);
            assert_eq!(refusal.field, Field::GivenName, "{bad:?}");
        }
    }

    #[test]
    fn names_in_any_script_are_kept() {
        let p = parse("Zoë Ñúñez 山田", "太郎", "Ó Briain").expect("valid");
        assert_eq!(p.display_name.as_deref(), Some("Zoë Ñúñez 山田"));
    }
}
