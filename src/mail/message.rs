//! The mail Portcullis sends: each kind has a plain-text and an HTML template
//! (`templates/mail/<kind>.txt` and `.html`), says who sent it and why, and carries at
//! most one link, which is its only secret.

use askama::Template;

/// One message, before rendering. `service` is the name people know us by (the
/// issuer's host); `name` is how we address the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Confirm an address: at registration, on resend, or for a new address.
    VerifyEmail {
        name: String,
        link: String,
        valid_for: String,
    },
    /// A password reset was asked for.
    ResetPassword {
        name: String,
        link: String,
        valid_for: String,
    },
    /// The password changed (reset or changed on the account page).
    PasswordChanged { name: String },
    /// Sent to the old address when a new one is asked for.
    EmailChangeRequested { name: String, new_email: String },
    /// Someone tried to register with an address that already has an account.
    RegistrationAttempt { name: String, reset_link: String },
    /// The account was deleted.
    AccountDeleted { name: String },
    /// The account was locked after failed sign-in attempts (the first lock of a run).
    AccountLocked {
        name: String,
        locked_for: String,
        reset_link: String,
    },
    /// A passkey was added to the account; `passkey` is the name it was given.
    PasskeyAdded { name: String, passkey: String },
    /// A second factor was added; `method` says which ("an authenticator app",
    /// "a passkey").
    SecondFactorAdded { name: String, method: String },
    /// A second factor was removed.
    SecondFactorRemoved { name: String, method: String },
    /// A recovery code was used to sign in; `left` says how many are still unused
    /// ("9 unused recovery codes").
    RecoveryCodeUsed { name: String, left: String },
}

/// A message rendered for sending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

macro_rules! mail_templates {
    ($($txt:ident, $html:ident, $txt_path:literal, $html_path:literal { $($field:ident: $ty:ty),* });* $(;)?) => {
        $(
            #[derive(Template)]
            #[template(path = $txt_path)]
            struct $txt<'a> { service: &'a str, $($field: &'a $ty),* }
            #[derive(Template)]
            #[template(path = $html_path)]
            struct $html<'a> { service: &'a str, $($field: &'a $ty),* }
        )*
    };
}

mail_templates! {
    VerifyTxt, VerifyHtml, "mail/verify_email.txt", "mail/verify_email.html" { name: str, link: str, valid_for: str };
    ResetTxt, ResetHtml, "mail/reset_password.txt", "mail/reset_password.html" { name: str, link: str, valid_for: str };
    ChangedTxt, ChangedHtml, "mail/password_changed.txt", "mail/password_changed.html" { name: str };
    EmailChangeTxt, EmailChangeHtml, "mail/email_change_requested.txt", "mail/email_change_requested.html" { name: str, new_email: str };
    AttemptTxt, AttemptHtml, "mail/registration_attempt.txt", "mail/registration_attempt.html" { name: str, reset_link: str };
    DeletedTxt, DeletedHtml, "mail/account_deleted.txt", "mail/account_deleted.html" { name: str };
    LockedTxt, LockedHtml, "mail/account_locked.txt", "mail/account_locked.html" { name: str, locked_for: str, reset_link: str };
    PasskeyTxt, PasskeyHtml, "mail/passkey_added.txt", "mail/passkey_added.html" { name: str, passkey: str };
    FactorAddedTxt, FactorAddedHtml, "mail/second_factor_added.txt", "mail/second_factor_added.html" { name: str, method: str };
    FactorRemovedTxt, FactorRemovedHtml, "mail/second_factor_removed.txt", "mail/second_factor_removed.html" { name: str, method: str };
    RecoveryUsedTxt, RecoveryUsedHtml, "mail/recovery_code_used.txt", "mail/recovery_code_used.html" { name: str, left: str };
}

impl Message {
    /// Renders both parts; `service` names us in the subject and the text.
    pub fn render(&self, service: &str) -> Result<Rendered, askama::Error> {
        macro_rules! both {
            ($subject:expr, $txt:ident, $html:ident { $($field:ident),* }) => {
                Rendered {
                    subject: $subject,
                    text: $txt { service, $($field),* }.render()?,
                    html: $html { service, $($field),* }.render()?,
                }
            };
        }
        Ok(match self {
            Self::VerifyEmail {
                name,
                link,
                valid_for,
            } => both!(
                format!("Confirm your email address for {service}"),
                VerifyTxt,
                VerifyHtml {
                    name,
                    link,
                    valid_for
                }
            ),
            Self::ResetPassword {
                name,
                link,
                valid_for,
            } => both!(
                format!("Reset your {service} password"),
                ResetTxt,
                ResetHtml {
                    name,
                    link,
                    valid_for
                }
            ),
            Self::PasswordChanged { name } => both!(
                format!("Your {service} password was changed"),
                ChangedTxt,
                ChangedHtml { name }
            ),
            Self::EmailChangeRequested { name, new_email } => both!(
                format!("Your {service} email address is being changed"),
                EmailChangeTxt,
                EmailChangeHtml { name, new_email }
            ),
            Self::RegistrationAttempt { name, reset_link } => both!(
                format!("Someone tried to create a {service} account with your address"),
                AttemptTxt,
                AttemptHtml { name, reset_link }
            ),
            Self::AccountDeleted { name } => both!(
                format!("Your {service} account was deleted"),
                DeletedTxt,
                DeletedHtml { name }
            ),
            Self::AccountLocked {
                name,
                locked_for,
                reset_link,
            } => both!(
                format!("Your {service} account was locked after failed sign-ins"),
                LockedTxt,
                LockedHtml {
                    name,
                    locked_for,
                    reset_link
                }
            ),
            Self::PasskeyAdded { name, passkey } => both!(
                format!("A passkey was added to your {service} account"),
                PasskeyTxt,
                PasskeyHtml { name, passkey }
            ),
            Self::SecondFactorAdded { name, method } => both!(
                format!("A second factor was added to your {service} account"),
                FactorAddedTxt,
                FactorAddedHtml { name, method }
            ),
            Self::SecondFactorRemoved { name, method } => both!(
                format!("A second factor was removed from your {service} account"),
                FactorRemovedTxt,
                FactorRemovedHtml { name, method }
            ),
            Self::RecoveryCodeUsed { name, left } => both!(
                format!("A recovery code was used to sign in to {service}"),
                RecoveryUsedTxt,
                RecoveryUsedHtml { name, left }
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mail_has_both_parts_naming_the_service_and_escapes_html() {
        let hostile = "<script>alert(1)</script>";
        let messages = [
            Message::VerifyEmail {
                name: hostile.into(),
                link: "https://id.example.com/verify-email?token=abc".into(),
                valid_for: "24 hours".into(),
            },
            Message::ResetPassword {
                name: hostile.into(),
                link: "https://id.example.com/reset-password?token=abc".into(),
                valid_for: "30 minutes".into(),
            },
            Message::PasswordChanged {
                name: hostile.into(),
            },
            Message::EmailChangeRequested {
                name: hostile.into(),
                new_email: "new@example.com".into(),
            },
            Message::RegistrationAttempt {
                name: hostile.into(),
                reset_link: "https://id.example.com/reset-password".into(),
            },
            Message::AccountDeleted {
                name: hostile.into(),
            },
            Message::AccountLocked {
                name: hostile.into(),
                locked_for: "1 minute".into(),
                reset_link: "https://id.example.com/reset-password".into(),
            },
            Message::PasskeyAdded {
                name: hostile.into(),
                passkey: hostile.into(),
            },
            Message::SecondFactorAdded {
                name: hostile.into(),
                method: "an authenticator app".into(),
            },
            Message::SecondFactorRemoved {
                name: hostile.into(),
                method: "an authenticator app".into(),
            },
            Message::RecoveryCodeUsed {
                name: hostile.into(),
                left: "9 unused recovery codes".into(),
            },
        ];
        for m in messages {
            let r = m.render("id.example.com").expect("renders");
            assert!(r.subject.contains("id.example.com"), "{}", r.subject);
            assert!(r.text.contains("id.example.com"), "{}", r.text);
            assert!(r.html.contains("id.example.com"), "{}", r.html);
            assert!(!r.html.contains("<script>"), "{}", r.html);
            assert!(r.text.contains("Why you got this"), "says why: {}", r.text);
        }
    }

    #[test]
    fn the_link_is_the_only_link_and_the_html_part_also_shows_it_to_copy() {
        let link = "https://id.example.com/verify-email?token=abc";
        let r = Message::VerifyEmail {
            name: "Ada".into(),
            link: link.into(),
            valid_for: "24 hours".into(),
        }
        .render("id.example.com")
        .expect("renders");
        assert_eq!(r.text.matches(link).count(), 1);
        assert!(
            r.html
                .contains("href=\"https://id.example.com/verify-email?token=abc\"")
        );
        assert_eq!(r.html.matches("href=").count(), 1, "{}", r.html);
        assert_eq!(
            r.html.matches(link).count(),
            2,
            "the button and the copy: {}",
            r.html
        );
    }
}
