//! Changing the email address: the new address is confirmed by a link before it
//! replaces the old one, and the old one is told (the change itself happens in
//! `verification::verify_email` when the link is followed).
//!
//! An address that belongs to another account is not named as such: the page answers
//! as for any other address, and no link is mailed to it, so the form cannot be used
//! to find out who has an account here (as registration cannot). The pending link is
//! still recorded, so the page shows the same "waiting for confirmation" either way.

use super::{Field, ManageError, Refusal};
use crate::{
    accounts::{Accounts, identity, links},
    audit::{Event, EventKind, Origin},
    mail::Message,
    storage::Purpose,
};

/// RFC 5321 section 4.5.3.1.3: a path is at most 256 octets, an address 254.
pub const EMAIL_MAX_BYTES: usize = 254;

/// Address changes one person may ask for in an hour, and the least time between two;
/// each sends mail to an address they chose, so they are bounded like resends.
const CHANGES_PER_HOUR: i64 = 5;
const CHANGE_GAP: i64 = 60;

/// A checked new address and its uniqueness key.
#[derive(Debug)]
struct NewEmail {
    address: String,
    key: String,
}

/// The address as typed, checked the way registration checks it.
fn parse_email(raw: &str) -> Result<NewEmail, Refusal> {
    let address = raw.trim();
    let invalid = || {
        Refusal::new(
            Field::Email,
            "Enter an email address like name@example.com.",
        )
    };
    if address.is_empty() {
        return Err(Refusal::new(Field::Email, "Enter your new email address."));
    }
    if address.len() > EMAIL_MAX_BYTES {
        return Err(Refusal::new(
            Field::Email,
            format!("An email address is at most {EMAIL_MAX_BYTES} characters."),
        ));
    }
    let well_formed = !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !well_formed {
        return Err(invalid());
    }
    let key = identity::email_key(address).ok_or_else(invalid)?;
    Ok(NewEmail {
        address: address.to_owned(),
        key,
    })
}

impl Accounts {
    /// Asks to move the account to `new_email`: a link to confirm it goes there, and
    /// the current address is told. The address changes only when the link is followed.
    pub async fn request_email_change(
        &self,
        user_id: uuid::Uuid,
        new_email: &str,
        origin: &Origin,
    ) -> Result<String, ManageError> {
        let new = parse_email(new_email)?;
        let domain = new.key.rsplit_once('@').map_or("", |(_, d)| d);
        if !self.config.accounts.allows_domain(domain) {
            let allowed = self.config.accounts.allowed_email_domains.join(", ");
            return Err(Refusal::new(
                Field::Email,
                format!("This service accepts only addresses at {allowed}."),
            )
            .into());
        }
        let user = self.active_user(user_id).await?;
        if identity::email_key(&user.email).as_deref() == Some(new.key.as_str()) {
            return Err(Refusal::new(Field::Email, "That is already your address.").into());
        }
        let now = self.clock.now();
        let tokens = &self.store.account_tokens;
        if tokens
            .sent_since(user.id, Purpose::VerifyEmail, now - CHANGE_GAP)
            .await?
            > 0
        {
            return Err(Refusal::new(
                Field::Email,
                "We just sent you an email. Wait a minute before asking again.",
            )
            .into());
        }
        if tokens
            .sent_since(user.id, Purpose::VerifyEmail, now - 3600)
            .await?
            >= CHANGES_PER_HOUR
        {
            return Err(Refusal::new(
                Field::Email,
                "You have asked for too many emails in the last hour. Try again later.",
            )
            .into());
        }
        // No username key is empty, so this looks the address up by its key alone.
        let taken = self
            .users
            .find_by_keys("", Some(&new.key))
            .await?
            .is_some_and(|other| other.id != user.id);
        let mut tx = self.store.db.begin_write().await?;
        if taken {
            // The same pending state as any other address, but the link goes nowhere.
            links::issue_in(
                tokens,
                &mut tx,
                Purpose::VerifyEmail,
                user.id,
                &new.address,
                self.config.accounts.verification_ttl,
                now,
            )
            .await?;
        } else {
            self.queue_verification_in(&mut tx, &user, &new.address, origin, now)
                .await?;
        }
        let notice = Message::EmailChangeRequested {
            name: Self::salutation(&user),
            new_email: new.address.clone(),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &notice, now)
            .await?;
        let event = Event::by_user(EventKind::EmailChangeRequested, user.id).from(origin);
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(new.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_address_parses_and_is_trimmed() {
        let e = parse_email("  Ada@Example.COM ").expect("valid");
        assert_eq!(e.address, "Ada@Example.COM");
        assert_eq!(e.key, "ada@example.com");
    }

    #[test]
    fn malformed_addresses_are_refused_with_an_example() {
        for bad in [
            "nope",
            "@b.c",
            "a@b",
            "a@b.c d",
            "a@.b.c",
            "a@b.c.",
            "a@@b.c",
            "a\u{85}@b.c",
        ] {
            let r = parse_email(bad).expect_err(bad);
            assert_eq!(r.field, Field::Email);
            assert!(
                r.message.contains("name@example.com"),
                "{bad}: {}",
                r.message
            );
        }
    }

    #[test]
    fn empty_and_overlong_addresses_say_so() {
        assert_eq!(
            parse_email("  ").expect_err("empty").message,
            "Enter your new email address."
        );
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(
            parse_email(&long)
                .expect_err("long")
                .message
                .contains("at most 254")
        );
    }
}
