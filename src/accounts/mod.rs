//! People: creating accounts and checking passwords. Knows nothing of HTTP or SQL.

pub mod login;
pub mod new_account;

pub use login::{AuthenticatedUser, LoginError, login};
pub use new_account::{AccountError, NewAccount, create_account};
