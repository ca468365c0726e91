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

/// A checked new address and its uniqueness key.
#[derive(Debug)]
struct NewEmail {
    address: String,
    key: String,
}

/// The address as typed, checked as registration checks it (`identity::check_email`),
/// with the account page's own words for an empty or overlong one.
fn parse_email(raw: &str) -> Result<NewEmail, Refusal> {
    let address = raw.trim();
    if address.is_empty() {
        return Err(Refusal::new(Field::Email, "Enter your new email address."));
    }
    if address.len() > identity::EMAIL_MAX {
        return Err(Refusal::new(
            Field::Email,
            format!(
                "An email address is at most {} characters.",
                identity::EMAIL_MAX
            ),
        ));
    }
    let (address, _) = identity::check_email(address).map_err(|m| Refusal::new(Field::Email, m))?;
    let key = identity::email_key(&address).ok_or_else(|| {
        Refusal::new(
            Field::Email,
            "Enter an email address like name@example.com.",
        )
    })?;
    Ok(NewEmail { address, key })
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
            return Err(Refusal::new(Field::Email, self.config.accounts.domain_refusal()).into());
        }
        let user = self.active_user(user_id).await?;
        if identity::email_key(&user.email).as_deref() == Some(new.key.as_str()) {
            return Err(Refusal::new(Field::Email, "That is already your address.").into());
        }
        let now = self.clock.now();
        let pace = links::pace(
            &self.store.account_tokens,
            user.id,
            Purpose::VerifyEmail,
            now,
        )
        .await?;
        if pace == links::Pace::TooSoon {
            return Err(Refusal::new(
                Field::Email,
                "We just sent you an email. Wait a minute before asking again.",
            )
            .into());
        }
        if pace == links::Pace::TooMany {
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
                &self.store.account_tokens,
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
